"""Bad files, signals and failing disks, tried as a hostile or unlucky user would: every user
error is exit code 2 and one line on stderr (no traceback), nothing is left behind, inputs are
unchanged and nothing hangs (the CLI runs in a subprocess with a timeout)."""
import hashlib
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pattern, write_clip
from PIL import Image
from safetensors.torch import save_file

from fstvideo import NetConfig, build_net, save_style
from fstvideo.media import open_media

TINY = NetConfig(widths=(8, 16, 16), blocks=1)
TIMEOUT = 300  # s: far above any of these runs, even on a loaded 2-core machine; reaching it means a hang


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_style(tmp_path_factory.mktemp("style") / "tiny.safetensors", build_net(TINY), "tiny"))


def _default_signals(limit_bytes: int | None = None):
    """preexec_fn: default dispositions (a shell's `cmd &` or nohup may have left some ignored,
    and the child inherits that), and optionally a file-size limit (`ulimit -f`)."""
    def setup():
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return setup


def cli(*args, limit_bytes=None, env=None, cwd=None) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "fstvideo.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT, preexec_fn=_default_signals(limit_bytes), env=env, cwd=cwd)
    return p.returncode, p.stderr


def assert_one_line(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fstvideo: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def snapshot(folder: Path) -> dict[str, str]:
    """Name -> sha256 of every entry (folders: "dir"), hidden temp files included."""
    return {p.name: "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# -- write failures ------------------------------------------------------------------------

@pytest.mark.parametrize("out", ["out.gif", "out.mp4"])
def test_write_failure_is_one_line_and_leaves_nothing(tmp_path, style, out):
    # `(ulimit -f 2; fstvideo convert clip.mp4 -o out.gif)`: the writer fails after a few frames
    write_clip(tmp_path / "clip.mp4", [i * 40 for i in range(60)], size=(160, 120))
    before = snapshot(tmp_path)
    code, err = cli("convert", tmp_path / "clip.mp4", "-o", tmp_path / out, "--style", style, "-q",
                    limit_bytes=4096)
    assert_one_line(code, err, "cannot write")
    assert snapshot(tmp_path) == before


def test_recording_keeps_what_was_written_when_the_disk_fills(tmp_path):
    script = f"""
import resource, sys
import numpy as np
from fstvideo.gui.recorder import Recorder
from fstvideo.media import Stamp
resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))
events = []
rec = Recorder(lambda on, text, path: events.append((on, text)))
rng = np.random.default_rng(0)
for i in range(400):  # noise: ~30 KB a frame, so the limit is reached within a second of video
    rec.sync(None if len(events) > 1 else {str(tmp_path / "rec.mp4")!r}, rng.integers(0, 255, (120, 160, 3), np.uint8),
             Stamp(pts=i * 33333), 30.0)
rec.stop()
print(events[-1][1])
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert "recording stopped" in p.stdout and "kept" in p.stdout, p.stdout
    assert sorted(os.listdir(tmp_path)) == ["rec.mp4"]  # renamed into place, no temp file
    with open_media(tmp_path / "rec.mp4") as src:
        assert sum(1 for _ in src) >= 10  # the fragments written before the failure play


# -- signals -------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_remove_the_temp_file(tmp_path, style, sig):
    src = write_clip(tmp_path / "long.mp4", [i * 40 for i in range(1000)], size=(160, 120))
    p = subprocess.Popen([sys.executable, "-m", "fstvideo.cli", "convert", str(src), "--style", style, "-q",
                          "-o", str(tmp_path / "out.mp4")], stderr=subprocess.PIPE, text=True,
                         preexec_fn=_default_signals())
    deadline = time.time() + 60
    while time.time() < deadline and not any(n.startswith(".out") for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(sig)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["long.mp4"]


def test_window_closes_normally_on_sigterm_and_sighup():
    # The window's close finishes a recording (tests/test_gui.py: test_record_writes_mp4); here:
    # SIGTERM and SIGHUP reach that close instead of killing the process mid-write.
    pytest.importorskip("PyQt6")
    script = """
import os, signal
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QWidget
from fstvideo.gui.app import _close_on_signals
app = QApplication(["test"])
for sig in (signal.SIGTERM, signal.SIGHUP):
    class Window(QWidget):
        def closeEvent(self, event):
            print("closed", flush=True)
            super().closeEvent(event)
    w = Window()
    w.show()
    QTimer.singleShot(300, lambda: os.kill(os.getpid(), sig))
    with _close_on_signals(w) as received:
        app.exec()
    print(received, flush=True)
"""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT,
                       env=env, preexec_fn=_default_signals())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:4] == ["closed", f"[{int(signal.SIGTERM)}]", "closed", f"[{int(signal.SIGHUP)}]"]


# -- style files ---------------------------------------------------------------------------

def _style_file(path: Path, meta_json: str, tensors: dict | None = None) -> Path:
    save_file(tensors or {"a": torch.zeros(1)}, str(path), metadata={"fstvideo": meta_json})
    return path


GOOD_META = {"format": "fstvideo-style", "format_version": 1, "name": "x", "styles": ["x"], "arch": TINY.to_dict()}
BAD_META = {
    "list": "[1, 2]",
    "version_1e999": json.dumps(GOOD_META).replace('"format_version": 1', '"format_version": 1e999'),
    "credit": json.dumps(dict(GOOD_META, credit=5)),
    "training": json.dumps(dict(GOOD_META, training=[1])),
    "student_scale": json.dumps(dict(GOOD_META, training={"distill": {"student_scale": "half"}})),
    "widths_1024": json.dumps(dict(GOOD_META, arch=dict(TINY.to_dict(), widths=[1024, 1024, 1024], blocks=5))),
    "widths_20000": json.dumps(dict(GOOD_META, arch=dict(TINY.to_dict(), widths=[20000, 20000, 20000]))),
    "blocks_string": json.dumps(dict(GOOD_META, arch=dict(TINY.to_dict(), blocks="5"))),
    "not_json": "{oops",
}


@pytest.mark.parametrize("case", sorted(BAD_META))
def test_malformed_style_metadata_is_one_line(tmp_path, case):
    write_clip(tmp_path / "c.mp4", [0, 40])
    bad = _style_file(tmp_path / "bad.safetensors", BAD_META[case])
    before = snapshot(tmp_path)
    code, err = cli("convert", tmp_path / "c.mp4", "--style", bad, "-o", tmp_path / "o.mp4")
    assert_one_line(code, err, "bad.safetensors")
    assert snapshot(tmp_path) == before


def test_style_header_claims_are_refused_before_allocating(tmp_path):
    huge = tmp_path / "huge_header.safetensors"
    huge.write_bytes(struct.pack("<Q", 200 << 20) + b"{" * 64)  # a 200 MB header that is not there
    paths = [huge, _style_file(tmp_path / "w1024.safetensors", BAD_META["widths_1024"]),
             _style_file(tmp_path / "w20000.safetensors", BAD_META["widths_20000"])]
    # within the size limits (24M weights), but its one tensor is not what the header's net needs
    arch = dict(TINY.to_dict(), widths=[512, 512, 512], blocks=5)
    paths.append(_style_file(tmp_path / "w512.safetensors", json.dumps(dict(GOOD_META, arch=arch))))
    script = f"""
import resource
from fstvideo.styles import StyleError, load_style
load_style("starry_night_fast")  # warm: imports and first-use costs are not the bad files'
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = 0
for path in {[str(p) for p in paths]!r}:
    try:
        load_style(path)
    except StyleError:
        refused += 1
print(refused, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    refused, mb = map(int, p.stdout.split())
    assert refused == 4 and mb < 100, p.stdout  # MB of peak memory the bad files added


def test_one_bad_file_or_fifo_in_the_style_folder_breaks_nothing(tmp_path, style):
    folder = tmp_path / "styles"
    folder.mkdir()
    os.mkfifo(folder / "pipe.safetensors")  # opening it for reading would block forever
    _style_file(folder / "broken.safetensors", BAD_META["credit"])
    (folder / "mine.safetensors").write_bytes(Path(style).read_bytes())
    env = dict(os.environ, FSTVIDEO_STYLES=str(folder))
    p = subprocess.run([sys.executable, "-m", "fstvideo.cli", "styles"], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "mine\t" in p.stdout and "broken\tunreadable:" in p.stdout and "pipe" not in p.stdout
    write_clip(tmp_path / "c.mp4", [0, 40])
    code, err = cli("convert", tmp_path / "c.mp4", "--style", folder / "pipe.safetensors", "-o", tmp_path / "o.mp4",
                    env=env)
    assert_one_line(code, err, "not a regular file")


# -- huge inputs ---------------------------------------------------------------------------

def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header says ``width`` x ``height`` (a decompression bomb's header)."""
    buf = BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    i = data.index(b"IHDR")
    data[i + 4:i + 12] = struct.pack(">II", width, height)
    data[i + 17:i + 21] = struct.pack(">I", zlib.crc32(bytes(data[i:i + 17])))
    return bytes(data)


@pytest.mark.parametrize("name", ["bomb.png", "mid.png", "big.y4m"])
def test_huge_inputs_are_refused_before_decoding(tmp_path, style, name):
    data = {"bomb.png": _png_claiming(30000, 30000),   # 900 MP: over twice Pillow's own limit
            "mid.png": _png_claiming(12000, 10000),    # 120 MP: Pillow would only warn
            "big.y4m": b"YUV4MPEG2 W12000 H10000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 1000}[name]
    (tmp_path / name).write_bytes(data)
    before = snapshot(tmp_path)
    code, err = cli("convert", tmp_path / name, "--style", style, "-o", tmp_path / "out.png")
    assert_one_line(code, err, "too large")
    assert snapshot(tmp_path) == before


def test_tiles_put_back_exactly_and_match_one_pass():
    from fstvideo.frames import to_tensor
    from fstvideo.stylizer import Stylizer, StylizerOptions, _pad_to
    from fstvideo.tiles import ThumbnailNorms, blend_weights, spans, stylize_tiled
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (150, 203, 3), dtype=np.uint8)
    assert np.array_equal(stylize_tiled(frame, lambda f: f, 48, 16, 4), frame)  # weights sum to one
    parts = spans(203, 48, 16, 4)
    assert parts[0][0] == 0 and parts[-1][1] == 203 and all(e - s <= 48 for s, e in parts)
    weights = zip(parts, blend_weights(parts, 203))
    assert np.allclose(sum(np.bincount(np.arange(s, e), w, 203) for (s, e), w in weights), 1)
    # With the statistics of the whole frame, tiles reproduce the one-pass result: no seams (a
    # trained net: an untrained one's border effects reach much further than its overlap)
    frame = pattern(3, 203, 150)
    st = Stylizer("starry_night", StylizerOptions(device="cpu"))
    whole = st(frame)
    with torch.inference_mode():
        norms = ThumbnailNorms(st.net)
        norms.measure(_pad_to(to_tensor(frame), st.net.multiple)[0], st._mix)
        fixed = (norms.net, st.options, st.device, st._mix, st._pixel_strength, 1.0)
        tiled = stylize_tiled(frame, lambda f: st._forward([f], fixed)[0], 96, 32, st.net.multiple)
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 6, (diff.mean(), diff.max())


def test_frames_over_the_pixel_budget_convert_in_tiles(tmp_path, style, monkeypatch):
    from fstvideo import stylizer
    calls = []
    tiled = stylizer.stylize_tiled
    monkeypatch.setattr(stylizer, "stylize_tiled", lambda frame, run, *a: calls.append(a) or tiled(frame, run, *a))
    frame = pattern(1, 200, 120)
    st = stylizer.Stylizer(style, stylizer.StylizerOptions(device="cpu", max_pixels=64 * 64, tile_overlap=16))
    assert st(frame[:64, :64]).shape == (64, 64, 3) and not calls  # within the budget: one pass
    assert st(frame).shape == frame.shape and calls == [(64, 16, 4)]  # tiles of 64x64, 16 px shared
    Image.fromarray(frame).save(tmp_path / "in.png")
    code, err = cli("convert", tmp_path / "in.png", "--style", style, "--max-pixels", 4096, "-q", "-o",
                    tmp_path / "out.png")
    assert code == 0, err
    assert Image.open(tmp_path / "out.png").size == (200, 120)


def test_shrunk_frames_over_the_budget_are_stylized_whole_and_enlarged_in_strips():
    # --max-size or a style's processing size: the net sees the whole shrunk frame in one pass,
    # only the guided upsampling back to full size runs in strips (rows of one global upsampling)
    import torch.nn.functional as F

    from fstvideo.guided import upsample_rows
    from fstvideo.stylizer import Stylizer, StylizerOptions
    x = torch.rand(1, 6, 13, 17)
    strips = torch.cat([upsample_rows(x, (100, 130), r, min(100, r + 23)) for r in range(0, 100, 23)], 2)
    assert torch.allclose(strips, F.interpolate(x, size=(100, 130), mode="bilinear", align_corners=False), atol=1e-5)
    frame = pattern(2, 240, 160)
    for extra in ({}, {"preserve_color": True, "strength": 0.6}):
        whole = Stylizer("starry_night_fast", StylizerOptions(device="cpu", max_size=96, **extra))(frame)
        parts = Stylizer("starry_night_fast", StylizerOptions(device="cpu", max_size=96, max_pixels=40 * 240,
                                                              **extra))(frame)
        assert np.abs(whole.astype(int) - parts.astype(int)).max() <= 3, extra


# -- training ------------------------------------------------------------------------------

@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "painting.png")
    return folder


def test_training_distill_export_never_replace_earlier_work(tmp_path, photos, style):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"an earlier run")
    out = tmp_path / "mine.safetensors"
    base = ("train", "--style", tmp_path / "painting.png", "--data", photos, "-o", out, "--iterations", 2)
    before = snapshot(tmp_path)
    code, err = cli(*base, "--run-dir", run)
    assert_one_line(code, err, "--resume", "--overwrite")
    out.write_bytes(b"an earlier result")
    before = snapshot(tmp_path)
    code, err = cli(*base, "--run-dir", tmp_path / "other_run")
    assert_one_line(code, err, "exists")
    code, err = cli("distill", style, "--data", photos, "-o", out)
    assert_one_line(code, err, "exists")
    code, err = cli("export", style, "--onnx", out)
    assert_one_line(code, err, "exists")
    assert snapshot(tmp_path) == before


def _fake_vgg() -> dict:
    from fstvideo.train.vgg import layer_names
    g = torch.Generator().manual_seed(0)
    state, cin = {}, 3
    for _, i in layer_names("vgg16")[:10]:
        cout = 64 if i < 5 else 128 if i < 10 else 256
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(cout)
        cin = cout
    return state


def test_interrupted_training_saves_a_checkpoint_and_resume_honours_new_paths(tmp_path, photos):
    from dataclasses import replace

    from fstvideo.train.trainer import TrainConfig, Trainer, load_checkpoint
    cfg = TrainConfig(styles=(str(tmp_path / "painting.png"),), data=str(photos), out=str(tmp_path / "a.safetensors"),
                      net=NetConfig(widths=(4, 8, 8), blocks=1, outer_kernel=3), image_size=32, style_size=40,
                      batch_size=1, iterations=50, checkpoint_every=0, sample_every=0, precision="fp32",
                      run_dir=str(tmp_path / "run"), style_layers=(("relu1_2", 1.0), ("relu2_2", 1.0)))
    vgg = _fake_vgg()
    t = Trainer(cfg, vgg_state=vgg)

    def ctrl_c_at_step_3(step, total, losses):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        t.run(progress=ctrl_c_at_step_3, bar=False)
    ck = tmp_path / "run" / "checkpoint.pt"
    assert load_checkpoint(ck)["step"] == 3
    moved = replace(cfg, out=str(tmp_path / "b.safetensors"), run_dir=str(tmp_path / "run2"))
    r = Trainer(moved, resume=ck, vgg_state=vgg)
    assert r.step == 3 and r.config.out == moved.out and r.config.run_dir == moved.run_dir


def test_unreadable_photos_are_skipped(tmp_path, photos, capsys):
    from fstvideo.errors import FstError
    from fstvideo.train.data import PhotoCrops
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    crops = PhotoCrops(photos, 32, seed=0)
    assert crops.batch(12).shape == (12, 3, 32, 32)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "broken.jpg" in err  # one warning, then the photo is dropped
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(FstError, match="no readable images"):
        PhotoCrops(bad, 32).batch(1)


# -- options -------------------------------------------------------------------------------

def test_bad_options_fail_before_any_work(tmp_path, style):
    src = write_clip(tmp_path / "c.mp4", [i * 40 for i in range(5)])
    (tmp_path / "folder.mp4").mkdir()
    before = snapshot(tmp_path)
    code, err = cli("convert", src, "--style", style, "--batch", 0, "-o", tmp_path / "o.mp4")
    assert_one_line(code, err, "--batch")
    code, err = cli("convert", src, "--style", style, "--overwrite", "-o", tmp_path / "folder.mp4")
    assert_one_line(code, err, "is a folder")
    assert snapshot(tmp_path) == before


def test_undecodable_audio_says_audio(tmp_path, style):
    from fractions import Fraction

    import av
    from conftest import pattern
    path = tmp_path / "noise.mkv"
    with av.open(str(path), "w") as out:  # H.264 video, AAC "packets" of random bytes
        vs = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("aac", rate=48000, layout="mono")
        aus.codec_context.open()
        for i in range(10):
            f = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            f.pts = i
            for pk in vs.encode(f):
                out.mux(pk)
            pk = av.Packet(bytes(np.random.default_rng(i).integers(0, 256, 200, dtype=np.uint8)))
            pk.stream, pk.pts, pk.dts, pk.time_base = aus, i * 1024, i * 1024, Fraction(1, 48000)
            out.mux(pk)
        for pk in vs.encode(None):
            out.mux(pk)
    before = snapshot(tmp_path)
    code, err = cli("convert", path, "--style", style, "-q", "-o", tmp_path / "o.webm")  # WebM: re-encoded as Opus
    assert_one_line(code, err, "audio", "--no-audio")
    assert snapshot(tmp_path) == before
