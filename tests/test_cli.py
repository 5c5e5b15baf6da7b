"""The `fstvideo` command end to end: real decoded files, exit codes, one-line errors, no leftovers."""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from fstvideo import NetConfig, build_net, load_style, save_style
from fstvideo.cli import main

TINY = NetConfig(widths=(8, 16, 16), blocks=1)


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_style(tmp_path_factory.mktemp("style") / "tiny.safetensors", build_net(TINY), "tiny"))


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = [f.pts for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = [float(s.duration * s.time_base) for s in c.streams.audio if s.duration]
    return {"frames": len(pts), "pts": pts, "audio": audio}


def run(*args) -> tuple[int, str]:
    """The CLI in a subprocess: real exit code and stderr."""
    p = subprocess.run([sys.executable, "-m", "fstvideo.cli", *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stderr


def test_video_default_name_frames_timestamps_audio(make_clip, style, tmp_path):
    src = make_clip("clip.mp4", pts=[0, 40, 80, 200, 240, 400], audio_seconds=0.5)
    before = digest(src)
    assert main(["convert", str(src), "--style", style, "-q"]) == 0
    out = tmp_path / "clip_tiny.mp4"
    a, b = probe(src), probe(out)
    assert b["frames"] == a["frames"] == 6
    assert [p * 1 for p in b["pts"]] == a["pts"] or len(set(np.diff(b["pts"]))) > 1  # VFR kept
    assert len(b["audio"]) == 1 and abs(b["audio"][0] - a["audio"][0]) < 0.03
    assert digest(src) == before
    assert main(["convert", str(src), "--style", style, "-q", "--no-audio", "-o", str(tmp_path / "na.mkv")]) == 0
    assert probe(tmp_path / "na.mkv")["audio"] == []


def test_existing_output_needs_overwrite(make_clip, style, tmp_path, capsys):
    src = make_clip("c.mp4")
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    assert main(["convert", str(src), "--style", style, "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["convert", str(src), "--style", style, "-o", str(out), "--overwrite", "-q"]) == 0
    assert probe(out)["frames"] == 10


def test_gif_round_trips_and_cross_formats(uneven_gif, style, tmp_path):
    from fstvideo.media import open_media
    assert main(["convert", str(uneven_gif), "--style", style, "-q"]) == 0
    out = tmp_path / "uneven_tiny.gif"
    with open_media(uneven_gif) as a, open_media(out) as b:
        da = [s.duration for _, s in a]
        db = [s.duration for _, s in b]
        assert da == pytest.approx(db, abs=1e-3) and a.info.loop == b.info.loop == 3
    assert main(["convert", str(uneven_gif), "--style", style, "-q", "-o", str(tmp_path / "g.mp4")]) == 0
    assert probe(tmp_path / "g.mp4")["frames"] == 4
    assert main(["convert", str(tmp_path / "g.mp4"), "--style", style, "-q", "-o", str(tmp_path / "back.gif")]) == 0
    with open_media(tmp_path / "back.gif") as b:
        assert len(list(b)) == 4


def test_images_alpha_folder_and_stdio(style, tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, (21, 35, 4), dtype=np.uint8)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rgba, "RGBA").save(folder / "a.png")
    Image.fromarray(rgba[..., :3]).save(folder / "sub" / "b.jpg")
    (folder / "notes.txt").write_text("not media")
    assert main(["convert", str(folder / "a.png"), "--style", style, "-q"]) == 0
    out = Image.open(folder / "a_tiny.png")
    assert out.mode == "RGBA" and out.size == (35, 21)
    assert np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    (folder / "a_tiny.png").unlink()
    assert main(["convert", str(folder), "--style", style, "-q"]) == 0
    assert sorted(p.relative_to(tmp_path / "in_tiny").as_posix() for p in (tmp_path / "in_tiny").rglob("*.*")) \
        == ["a.png", "sub/b.jpg"]
    data = (folder / "sub" / "b.jpg").read_bytes()
    p = subprocess.run([sys.executable, "-m", "fstvideo.cli", "convert", "-", "--style", style],
                       input=data, capture_output=True)
    assert p.returncode == 0 and p.stdout[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["missing.mp4", "empty.mp4", "text.mp4", "trunc.mp4", "zero.mp4",
                                  "audio.m4a", "trunc.png", "bad.gif"])
def test_bad_input_one_line_exit_2_nothing_left(bad_files, style, name):
    src = bad_files / name
    before = digest(src) if src.exists() else None
    listing = sorted(os.listdir(bad_files))
    code, err = run("convert", src, "--style", style, "-o", bad_files / "out.mp4")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fstvideo: error:") and "Traceback" not in err
    assert sorted(os.listdir(bad_files)) == listing  # no output, no temp file
    assert (digest(src) if src.exists() else None) == before


def test_bad_styles_and_outputs(make_clip, style, tmp_path):
    src = make_clip("c.mp4")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(Path(style).read_bytes())
    i = data.index(b"widths")  # the metadata JSON, escaped inside the safetensors header
    data[i:i + 6] = b"widthz"
    tampered.write_bytes(bytes(data))
    pickled = tmp_path / "pickle.safetensors"
    torch.save({"w": torch.zeros(3)}, pickled)
    cases = [("--style", "no_such_style", "-o", tmp_path / "a.mp4"),
             ("--style", corrupt, "-o", tmp_path / "b.mp4"),
             ("--style", tampered, "-o", tmp_path / "c.mp4"),
             ("--style", pickled, "-o", tmp_path / "d.mp4"),
             ("--style", style, "-o", tmp_path / "no_such_dir" / "e.mp4"),
             ("--style", style, "-o", src),
             ("--style", style, "--strength", "2", "-o", tmp_path / "f.mp4"),
             ("--style", style, "--crf", "99", "-o", tmp_path / "g.mp4"),
             ("--style", style, "--workers", "0", "-o", tmp_path / "h.mp4")]
    for extra in cases:
        code, err = run("convert", src, *extra)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mp4") == ["c.mp4"]


def test_crf_and_preset_reach_the_encoder(make_clip, style, tmp_path):
    src = make_clip("c.mp4")
    sizes = {}
    for crf in ("4", "45"):
        out = tmp_path / f"crf{crf}.mp4"
        code, err = run("convert", src, "--style", style, "--crf", crf, "--preset", "ultrafast", "-q", "-o", out)
        assert code == 0, err
        sizes[crf] = out.stat().st_size
    assert sizes["45"] < sizes["4"] / 2  # lower CRF = better quality, larger file


def test_fast_encodes_ultrafast_unless_told(make_clip, tmp_path):
    # --fast's encoder shares the CPU with a real-time net: x264 ultrafast by default (its
    # settings string in the stream says cabac=0), an explicit --preset still wins.
    src = make_clip("c.mp4")
    for extra, cabac in (((), b"cabac=0"), (("--preset", "veryfast"), b"cabac=1")):
        out = tmp_path / f"fast{len(extra)}.mp4"
        code, err = run("convert", src, "--fast", "-q", "-o", out, *extra)
        assert code == 0, err
        assert cabac in out.read_bytes(), extra
    out = tmp_path / "full.mp4"
    code, err = run("convert", src, "--style", "starry_night", "-q", "-o", out)
    assert code == 0 and b"cabac=1" in out.read_bytes(), err


def test_ctrl_c_removes_temp_and_exits_130(style, tmp_path):
    from conftest import write_clip
    # 2000 frames (~20 s of converting): long enough that a busy machine cannot finish it before the
    # signal lands (400 frames did, once, under load)
    src = write_clip(tmp_path / "long.mp4", [i * 40 for i in range(2000)], size=(160, 120))
    out = tmp_path / "out.mp4"
    # The child gets the default SIGINT disposition: started from a background job (`pytest &`),
    # it would inherit SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    p = subprocess.Popen([sys.executable, "-m", "fstvideo.cli", "convert", str(src), "--style", style,
                          "-o", str(out)], stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not any(n.startswith(".out") for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130, err
    assert sorted(os.listdir(tmp_path)) == ["long.mp4"]


def test_styles_and_info_commands(capsys):
    assert main(["info"]) == 0
    assert "torch" in capsys.readouterr().out
    assert main(["styles"]) == 0


def test_pipeline_failure_in_stylizer_leaves_nothing(make_clip, tmp_path):
    from fstvideo.pipeline import convert
    src = make_clip("c.mp4")
    calls = []

    def broken(frame):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return frame

    with pytest.raises(RuntimeError, match="boom"):
        convert(src, tmp_path / "o.mp4", broken)
    assert sorted(os.listdir(tmp_path)) == ["c.mp4"]


def test_pipeline_identity_keeps_every_frame(make_clip, tmp_path):
    from fstvideo.media import open_media
    from fstvideo.pipeline import convert
    src = make_clip("c.mp4", pts=[0, 40, 120, 160, 400])
    result = convert(src, tmp_path / "o.mp4", lambda f: f)
    assert result.frames == 5 and result.path.exists()
    with open_media(src) as a, open_media(tmp_path / "o.mp4") as b:
        assert [s.time for _, s in a] == pytest.approx([s.time for _, s in b])


def test_blend_picks_full_or_fast_multi_file_and_strength_mode(tmp_path, monkeypatch):
    from dataclasses import replace

    from fstvideo.cli import multi_style_for
    from fstvideo.model import FAST_CONFIG
    torch.manual_seed(0)
    monkeypatch.setenv("FSTVIDEO_STYLES", str(tmp_path))
    save_style(tmp_path / "duo.safetensors", build_net(replace(TINY, n_styles=3)), "duo",
               styles=["ink", "sea", "photo"])
    save_style(tmp_path / "duo_fast.safetensors", build_net(replace(FAST_CONFIG, n_styles=3)), "duo_fast",
               styles=["ink", "sea", "photo"])
    assert Path(multi_style_for(["ink", "sea"])).name == "duo.safetensors"
    assert Path(multi_style_for(["ink", "sea"], fast=True)).name == "duo_fast.safetensors"
    img = tmp_path / "in.png"
    Image.fromarray(np.full((20, 24, 3), 120, np.uint8)).save(img)
    for mode in ("norm", "pixels"):
        code, err = run("convert", img, "-o", tmp_path / f"o_{mode}.png", "--style", "ink:0.5,sea:0.5",
                        "--strength", "0.5", "--strength-mode", mode)
        assert code == 0, err
    code, err = run("convert", img, "-o", tmp_path / "bad.png", "--style", "ink:1,lava:1")
    assert code == 2 and "lava" in err and len(err.strip().splitlines()) == 1


def test_pipeline_workers_keep_frame_order_and_smoother_order(make_clip, tmp_path):
    # Two frames in flight, finishing out of order (the first sleeps longest): frames and the
    # smoother's calls still come in input order, and the output decodes to the same frames.
    import threading
    import time

    import numpy as np

    from fstvideo.media import open_media
    from fstvideo.pipeline import ConvertOptions, convert
    src = make_clip("c.mp4", pts=[i * 40 for i in range(9)])
    delays = iter([0.05, 0.0] * 10)
    lock, seen = threading.Lock(), []

    def slow_invert(frame):
        with lock:
            d = next(delays)
        time.sleep(d)
        return 255 - frame

    def smoother(frame, out):
        seen.append(int(frame.mean()))
        return out

    ref = convert(src, tmp_path / "one.mp4", lambda f: 255 - f, options=ConvertOptions(workers=1))
    got = convert(src, tmp_path / "two.mp4", slow_invert, smoother=smoother, options=ConvertOptions(workers=2))
    assert got.frames == ref.frames == 9
    with open_media(src) as s:
        assert seen == [int(f.mean()) for f, _ in s]
    with open_media(ref.path) as a, open_media(got.path) as b:
        for (fa, sa), (fb, sb) in zip(a, b):
            assert sa.time == pytest.approx(sb.time) and np.abs(fa.astype(int) - fb).mean() < 1.0



def test_default_scale_is_the_one_the_file_was_trained_for(tmp_path):
    # A file distilled for half size (+ guided upsampling) keeps running so; files without a
    # recorded scale (every full model) or distilled at scale 1 (the bundled fast files) run at
    # full size.
    import argparse

    from fstvideo.cli import build_stylizer
    from fstvideo.styles import trained_scale
    net = build_net(TINY)
    half = save_style(tmp_path / "half.safetensors", net, "half", training={"distill": {"student_scale": 0.5}})
    full = save_style(tmp_path / "full.safetensors", net, "full", training={"distill": {"student_scale": 1.0}})
    plain = save_style(tmp_path / "plain.safetensors", net, "plain")
    assert [trained_scale(load_style(p)) for p in (half, full, plain)] == [0.5, 1.0, 1.0]
    base = dict(strength=1.0, strength_mode="pixels", preserve_color=False, max_size=None, stroke=1.0, device="cpu",
                precision="fp32", compile=False, fast=False, scale=None)
    scale = lambda p, **kw: build_stylizer(argparse.Namespace(**{**base, "style": str(p), **kw})).scale
    assert scale(half) == 0.5 and scale(plain) == 1.0
    assert scale(half, scale=0.75) == 0.75 and scale(half, max_size=64) == 1.0


def test_convert_opens_the_input_once_and_compiles_only_where_it_pays(make_clip, tmp_path, monkeypatch):
    # `convert --fast clip.mp4`: one open tells the kind and length (naming, compiling, workers),
    # and the same source is decoded; a short clip runs eager, an image never compiles.
    from fstvideo import jobs, pipeline
    from fstvideo.jobs import FAST_COMPILE_MIN_FRAMES, ConvertRequest, compile_pays
    from fstvideo.media import MediaInfo
    opened = []
    real = jobs.open_media
    for module in (jobs, pipeline):
        monkeypatch.setattr(module, "open_media", lambda src, *a: opened.append(str(src)) or real(src, *a))
    src = make_clip("c.mp4")
    assert main(["convert", str(src), "--fast", "-q", "-o", str(tmp_path / "out.mp4")]) == 0
    assert opened == [str(src)]

    def info(kind, frames):
        return MediaInfo(path=None, kind=kind, width=8, height=8, frames=frames)
    fast, forced, off = ConvertRequest("x", compile=None), ConvertRequest("x", compile=True), ConvertRequest("x")
    assert not compile_pays(fast, info("video", 100)) and compile_pays(fast, info("video", FAST_COMPILE_MIN_FRAMES))
    assert compile_pays(fast, info("gif", None))  # unknown length: assume long
    assert compile_pays(forced, info("video", 10)) and not compile_pays(off, info("video", None))
    assert not any(compile_pays(r, info("image", 1)) for r in (fast, forced, off))
    assert not compile_pays(forced, None)  # an image on stdin


def test_every_help_page_renders(capsys):
    # argparse formats help strings with %: a bare "%" in one breaks `-h` of its parent
    import argparse

    from fstvideo.cli import build_parser

    def walk(parser, prefix):
        yield prefix
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, prefix + [name])
    for argv in walk(build_parser(), []):
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(argv + ["-h"])
        assert e.value.code == 0, argv
    assert "usage" in capsys.readouterr().out
