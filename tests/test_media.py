"""Media I/O: round trips keep frame counts, timestamps, audio, GIF delays/loop/alpha, image
modes; every bad input is one MediaError; sinks never leave partial files."""
from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import GIF_DURATIONS_MS, pattern
from PIL import Image

from fstvideo.errors import MediaError
from fstvideo.media import GifOptions, Stamp, open_media, open_sink, probe_kind, read_image, sink_kind, write_image


def decode(path):
    with open_media(path) as src:
        return src.info, list(src)


def copy(src_path, dst_path, audio=True, **kw):
    """Decode -> write the identical frames -> return the sink (for its notes)."""
    with open_media(src_path) as src, open_sink(dst_path, src.info, audio=audio, **kw) as sink:
        for frame, stamp in src:
            sink.write(frame, stamp)
    return sink


def times(items):
    return [st.pts * st.time_base for _, st in items]


def audio_streams(path):
    with av.open(str(path)) as c:
        return [(s.codec_context.name, float(s.duration * s.time_base) if s.duration else c.duration / 1e6, s.frames)
                for s in c.streams.audio]


def leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# -- video ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bbb_round_trip(bbb, tmp_path_factory):
    out = tmp_path_factory.mktemp("bbb") / "out.mp4"
    sink = copy(bbb, out)
    return out, sink


def test_bbb_round_trip_keeps_frames_pts_and_audio(bbb, bbb_round_trip):
    out, sink = bbb_round_trip
    info, items = decode(bbb)
    info2, items2 = decode(out)
    assert (info.width, info.height, info.frames, info.has_audio) == (1280, 720, 132, True)
    assert len(items2) == 132 and info2.frames == 132
    assert times(items2) == times(items)
    assert info2.duration == pytest.approx(info.duration, abs=1e-6)
    (codec_in, dur_in, n_in), = audio_streams(bbb)
    (codec_out, dur_out, n_out), = audio_streams(out)
    assert codec_out == codec_in == "aac" and n_out == n_in  # copied packet for packet
    assert abs(dur_out - dur_in) <= 1024 / 48000
    assert sink.notes == []
    # Identity frames stay close to the decoded input (CRF 18 H.264).
    diff = np.abs(items2[60][0].astype(np.int16) - items[60][0]).mean()
    assert diff < 4


def test_audio_false_drops_audio(make_clip, tmp_path):
    clip = make_clip("a.mp4", audio_seconds=0.5)
    assert decode(clip)[0].has_audio
    copy(clip, tmp_path / "na.mp4", audio=False)
    assert audio_streams(tmp_path / "na.mp4") == []


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm"])
def test_vfr_pts_and_durations_survive(make_clip, tmp_path, ext):
    pts = [0, 40, 50, 130, 135, 300, 310, 400, 433, 500, 700, 710]
    clip = make_clip("vfr.mp4", pts, audio_seconds=0.8)
    sink = copy(clip, tmp_path / f"out.{ext}")
    _, items = decode(clip)
    info, items2 = decode(tmp_path / f"out.{ext}")
    assert times(items2) == [Fraction(p, 1000) for p in pts]
    assert [st.duration for _, st in items2] == pytest.approx([st.duration for _, st in items], abs=1e-3)
    codec, duration, _ = audio_streams(tmp_path / f"out.{ext}")[0]
    assert codec == ("opus" if ext == "webm" else "aac")
    assert duration == pytest.approx(0.8, abs=0.03)
    assert ("re-encoded" in " ".join(sink.notes)) == (ext == "webm")  # never silently


def test_odd_size_is_padded_by_one_pixel(make_clip, tmp_path):
    clip = make_clip("even.mp4", size=(34, 18))
    with open_media(clip) as src, open_sink(tmp_path / "odd.mp4", src.info) as sink:
        for frame, stamp in src:
            sink.write(np.ascontiguousarray(frame[:17, :33]), stamp)
    assert "33x17 padded to 34x18" in sink.notes[0]
    info, items = decode(tmp_path / "odd.mp4")
    assert (info.width, info.height, len(items)) == (34, 18, 10)
    # The added column repeats the last real one.
    assert np.abs(items[0][0][:, 33].astype(int) - items[0][0][:, 32]).mean() < 6


def test_rotation_metadata_gives_upright_frames(make_clip, tmp_path):
    clip = make_clip("rot.mp4", [0, 40, 80], size=(64, 32), rotation=90)
    info, items = decode(clip)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    frame = items[0][0]
    assert frame.shape == (64, 32, 3) and frame.flags.c_contiguous
    stored = pattern(0, 64, 32)
    assert np.abs(frame.astype(int) - np.rot90(stored)).mean() < 4       # turned counter-clockwise
    assert np.abs(frame.astype(int) - np.rot90(stored, -1)).mean() > 40
    copy(clip, tmp_path / "upright.mp4")
    info2, items2 = decode(tmp_path / "upright.mp4")
    assert (info2.rotation, info2.width, info2.height) == (0, 32, 64)  # written upright, no matrix
    assert np.abs(items2[0][0].astype(int) - frame).mean() < 4


def test_truncated_video_keeps_what_decodes(make_clip, tmp_path):
    data = make_clip("full.mp4", [i * 40 for i in range(30)], faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_media(cut) as src:
        n = len(list(src))
        assert 0 < n < 30
        assert "truncated" in " ".join(src.notes) or "stopped" in " ".join(src.notes)


def test_sink_without_stamps_uses_fps(tmp_path):
    from fstvideo.media import MediaInfo
    info = MediaInfo(path=None, kind="video", width=32, height=16, fps=10.0)
    with open_sink(tmp_path / "plain.mkv", info) as sink:
        for i in range(4):
            sink.write(pattern(i, 32, 16))
    assert times(decode(tmp_path / "plain.mkv")[1]) == [Fraction(i, 10) for i in range(4)]


# -- GIF -----------------------------------------------------------------------------------

def test_gif_read_durations_loop_alpha(uneven_gif):
    info, items = decode(uneven_gif)
    assert (info.kind, info.loop, info.frames, len(items)) == ("gif", 3, 4, 4)
    assert [st.duration for _, st in items] == pytest.approx([d / 1000 for d in GIF_DURATIONS_MS])
    for i, (frame, st) in enumerate(items):
        assert (st.alpha[:8, :8] == 0).all() and (st.alpha[8:, 8:] == 255).all()
        assert tuple(frame[20, 20]) == tuple(200 if c == i % 3 else 0 for c in range(3))


def test_gif_round_trip_exact_delays_loop_and_alpha(uneven_gif, tmp_path):
    _, items = decode(uneven_gif)
    sink = copy(uneven_gif, tmp_path / "out.gif")
    assert sink.written == 4 and sink.notes == []
    info, items2 = decode(tmp_path / "out.gif")
    assert info.loop == 3
    assert [st.duration for _, st in items2] == pytest.approx([d / 1000 for d in GIF_DURATIONS_MS])
    for (f0, s0), (f1, s1) in zip(items, items2):
        assert np.array_equal(s1.alpha >= 128, s0.alpha >= 128)
        opaque = s0.alpha >= 128
        assert np.abs(f1.astype(int) - f0)[opaque].max() <= 8


def test_single_frame_gif_is_a_gif(tmp_path):
    Image.fromarray(pattern(0, 20, 10)).save(tmp_path / "one.gif")
    info, items = decode(tmp_path / "one.gif")
    assert (info.kind, len(items), info.loop) == ("gif", 1, None)
    copy(tmp_path / "one.gif", tmp_path / "one_out.gif")
    assert decode(tmp_path / "one_out.gif")[0].loop is None  # still plays once


def test_gif_to_mp4_timestamps_follow_delays(uneven_gif, tmp_path):
    copy(uneven_gif, tmp_path / "g.mp4")
    info, items = decode(tmp_path / "g.mp4")
    assert [st.time for _, st in items] == pytest.approx([0, 0.03, 0.15, 0.22])
    assert info.duration == pytest.approx(0.72)


def test_mp4_to_gif_durations_and_speed(make_clip, tmp_path):
    copy(make_clip("c25.mp4", [i * 40 for i in range(6)]), tmp_path / "c25.gif")
    info, items = decode(tmp_path / "c25.gif")
    assert info.loop == 0 and [st.duration for _, st in items] == pytest.approx([0.04] * 6)
    # 60 fps: delays of 1.67 cs; frames under 2 cs are dropped, the total time is kept.
    clip = make_clip("c60.mp4", [round(i * 1000 / 60) for i in range(12)])
    sink = copy(clip, tmp_path / "c60.gif")
    assert sink.written < 12 and "dropped" in sink.notes[0]
    _, items = decode(tmp_path / "c60.gif")
    durations = [st.duration for _, st in items]
    assert min(durations) >= 0.02 and sum(durations[:-1]) == pytest.approx(0.17, abs=0.005)


def test_gif_delays_round_cumulatively(tmp_path):
    with open_sink(tmp_path / "r.gif", gif=GifOptions(min_delay_cs=1)) as sink:
        for i in range(6):  # 33.3 ms frames -> 3,4,3,3,4,3 cs: total 20 cs
            sink.write(pattern(i, 16, 16), Stamp(pts=i, time_base=Fraction(1, 30), duration=1 / 30))
    durations = [st.duration for _, st in decode(tmp_path / "r.gif")[1]]
    assert sum(durations) == pytest.approx(0.2) and set(durations) <= {0.03, 0.04}


# -- images --------------------------------------------------------------------------------

def test_grey_png_becomes_rgb(tmp_path):
    Image.fromarray(np.arange(60, dtype=np.uint8).reshape(6, 10), "L").save(tmp_path / "g.png")
    frame, alpha = read_image(tmp_path / "g.png")
    assert frame.shape == (6, 10, 3) and alpha is None
    assert (frame[..., 0] == frame[..., 2]).all() and frame[5, 9, 1] == 59


def test_16bit_png_becomes_8bit(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], np.uint16)).save(tmp_path / "w.png")
    frame, _ = read_image(tmp_path / "w.png")
    assert frame[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("ext", ["png", "webp", "tiff"])
def test_rgba_alpha_round_trip(tmp_path, ext):
    rgba = np.dstack([pattern(0, 16, 8), np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    info, [(frame, stamp)] = decode(tmp_path / "in.png")
    assert info.kind == "image" and info.has_alpha and np.array_equal(stamp.alpha, rgba[..., 3])
    copy(tmp_path / "in.png", tmp_path / f"out.{ext}")
    frame2, alpha2 = read_image(tmp_path / f"out.{ext}")
    assert np.array_equal(alpha2, rgba[..., 3])
    assert np.abs(frame2.astype(int) - frame)[rgba[..., 3] > 0].max() <= (0 if ext != "webp" else 40)


def test_jpeg_drops_alpha_with_a_note(tmp_path):
    buf = io.BytesIO()
    write_image(buf, pattern(0, 8, 8), alpha=np.zeros((8, 8), np.uint8), format="png")
    with open_media(buf.getvalue()) as src:  # bytes, as from stdin
        [(frame, stamp)] = list(src)
    with open_sink(tmp_path / "out.jpg", src.info) as sink:
        sink.write(frame, stamp)
    assert "alpha" in sink.notes[0]
    assert read_image((tmp_path / "out.jpg").read_bytes())[1] is None


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    frame, _ = read_image(tmp_path / "c.jpg")
    assert frame.shape == (8, 8, 3) and np.abs(frame[4, 4].astype(int) - [255, 0, 0]).max() < 12


def test_exif_orientation_applied(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:5, :5] = 255  # marker in the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(a).save(tmp_path / "e.jpg", exif=exif, quality=95)
    info, [(frame, _)] = decode(tmp_path / "e.jpg")
    assert frame.shape == (40, 20, 3) and (info.width, info.height) == (20, 40)
    assert frame[2, 17].min() > 200 and frame[2, 2].max() < 50  # marker now top-right


def test_image_stdout_and_stdin_bytes():
    buf = io.BytesIO()
    write_image(buf, pattern(3, 12, 6), format="png")
    frame, alpha = read_image(buf.getvalue())
    assert np.array_equal(frame, pattern(3, 12, 6)) and alpha is None
    assert probe_kind(buf.getvalue()) == "image"


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, says", [
    ("missing.mp4", "no such file"), ("empty.mp4", "empty"), ("text.mp4", "not a video"),
    ("trunc.mp4", "not a video"), ("zero.mp4", "no decodable"), ("audio.m4a", "no video stream"),
    ("trunc.png", "image"), ("bad.gif", "no decodable"), ("text.jpg", "no decodable"), (".", "not a regular file")])
def test_bad_inputs_raise_one_line_media_error(bad_files, name, says):
    for call in (probe_kind, open_media):
        with pytest.raises(MediaError) as e:
            call(bad_files / name)
        msg = str(e.value)
        assert says in msg and "\n" not in msg and str(bad_files / name) in msg


def test_input_is_never_modified(uneven_gif):
    before = uneven_gif.read_bytes(), uneven_gif.stat().st_mtime_ns
    decode(uneven_gif)
    assert (uneven_gif.read_bytes(), uneven_gif.stat().st_mtime_ns) == before
    with pytest.raises(MediaError, match="overwrite the input"):
        copy(uneven_gif, uneven_gif)


# -- sinks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a.mp4", "a.gif", "a.png"])
def test_abort_and_exceptions_leave_no_file(tmp_path, name):
    sink = open_sink(tmp_path / name)
    sink.write(pattern(0, 16, 16), Stamp(pts=0, time_base=Fraction(1, 25)))
    assert leftovers(tmp_path) and leftovers(tmp_path)[0].startswith(".a.tmp-")
    assert leftovers(tmp_path)[0].endswith(Path(name).suffix)  # the muxer still sees the extension
    sink.abort()
    assert list(tmp_path.iterdir()) == []
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with open_sink(tmp_path / name) as sink:
                sink.write(pattern(0, 16, 16))
                raise exc()
        assert list(tmp_path.iterdir()) == []


def test_zero_frames_is_an_error_and_no_file(tmp_path):
    with pytest.raises(MediaError, match="no frames"):
        with open_sink(tmp_path / "none.mp4"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_close_replaces_atomically_with_normal_permissions(tmp_path):
    (tmp_path / "x.png").write_bytes(b"old")
    with open_sink(tmp_path / "x.png") as sink:
        sink.write(pattern(0, 8, 8))
        assert (tmp_path / "x.png").read_bytes() == b"old"  # untouched until close
    assert read_image(tmp_path / "x.png")[0].shape == (8, 8, 3) and leftovers(tmp_path) == []
    assert (tmp_path / "x.png").stat().st_mode & 0o044  # readable by others, not mkstemp's 0600


def test_unwritable_or_missing_folder_raises_at_open(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(MediaError, match="is not a folder"):
        open_sink(tmp_path / "file" / "out.mp4")
    with pytest.raises(MediaError, match="does not exist"):
        open_sink(tmp_path / "nowhere" / "out.gif")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(MediaError, match="cannot write"):
            open_sink(ro / "out.png")


def test_sink_kind_and_unknown_extension(tmp_path):
    assert [sink_kind(f"x.{e}") for e in ("MP4", "webm", "gif", "jpeg")] == ["video", "video", "gif", "image"]
    with pytest.raises(MediaError, match="unknown output extension"):
        open_sink(tmp_path / "x.xyz")
    with pytest.raises(MediaError, match="one frame"):
        with open_sink(tmp_path / "two.png") as sink:
            sink.write(pattern(0, 8, 8))
            sink.write(pattern(1, 8, 8))
    assert list(tmp_path.iterdir()) == []
