"""``fstvideo bench speed``: frames/s of each model variant and execution mode at 320x240,
640x480 and 1280x720, model-only and end to end, printed as a table and saved.

Each row runs in its own subprocess, so its peak memory (``ru_maxrss``) and compile caches are
its own. Rows:

- ``fps_model``: median over at least ``repeats`` calls and ``seconds`` of calls of
  ``Stylizer(frame)`` (tensor conversion and padding included, decode/encode excluded), after the
  first call (``first_call_s``: compile or warm-up cost, kept out of the loop).
- ``fps_e2e``: ``pipeline.convert`` of an H.264 clip at that size (decode, stylize, encode
  overlapped by threads), at least ``frames`` frames and about ``seconds`` long at the model-only
  rate (``e2e_frames``; a 24-frame run of a 40 frames/s net is mostly start-up and one stall of
  a shared CPU), with ``convert``'s default frame workers
  (``e2e_workers``: 2 frames at once, one torch thread each, for eager nets on a multi-core CPU)
  and its default encoder (``e2e_preset``: x264 ultrafast for the fast rows, as ``convert --fast``;
  veryfast otherwise); ``e2e_ratio`` is ``fps_e2e`` over ``fps_model``.
- ``fps_live``: the live loop of the window: decode one frame, stylize, next (no encoder).
- ``diff_max`` / ``diff_mean``: how far this mode's output of a real frame (the clip's first) is
  from eager fp32's on the same device, in 0-255 levels (0 for eager fp32 itself).

Beside the rows, ``accuracy`` (:func:`run_accuracy`): the same differences for bf16 (and fp16 on
CUDA) autocast in eager mode at the smallest size, also where a row cannot be timed because the
CPU only emulates bf16: whether bf16 holds is known before a machine with native bf16 is.

The reference row (``johnson``, ``eager-fp32``) is measured in the same run; ``x_ref`` is each
row's ``fps_model`` over the reference's at the same size.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .report import save_table

SIZES = ((320, 240), (640, 480), (1280, 720))
MODES = ("eager-fp32", "compiled-fp32", "compiled-bf16", "cuda-fp16")


@dataclass(frozen=True)
class SpeedOptions:
    models: tuple[str, ...] = ("johnson", "fast", "fast-half")  # style names/paths, or 'johnson'/'fast' (the
                                                   # bundled default's full/fast model at the scale it was
                                                   # trained for: what `convert` / `convert --fast` run) and
                                                   # 'fast-half' (the fast model at half resolution + guided
                                                   # upsampling: `convert --fast --scale 0.5`)
    modes: tuple[str, ...] = MODES                 # execution modes; unavailable ones are skipped
    sizes: tuple[tuple[int, int], ...] = SIZES     # (width, height) in pixels
    repeats: int = 5                               # at least this many timed model-only calls per row (median)
    seconds: float = 3.0                           # and calls until this much time is covered, s; the
                                                   # end-to-end clip is this long at the model-only rate: on a
                                                   # shared CPU a few calls can land in a slow second
    frames: int = 24                               # at least this many frames in the end-to-end clip
    threads: int = 0                               # torch threads; 0 = torch's default (all cores)


def _mode_available(mode: str) -> str | None:
    """None if ``mode`` can run here, else why not."""
    import torch
    if mode == "cuda-fp16" and not torch.cuda.is_available():
        return "no CUDA device"
    if mode == "compiled-bf16" and not torch.cuda.is_available() and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "CPU has no native bf16 (emulated bf16 is ~60x slower)"
    return None


def _style_for(model: str) -> str:
    from ..styles import DEFAULT_STYLE, list_styles
    known = list_styles()
    if model == "johnson":
        return DEFAULT_STYLE if DEFAULT_STYLE in known else "random:johnson"
    if model in ("fast", "fast-half"):
        return DEFAULT_STYLE + "_fast" if DEFAULT_STYLE + "_fast" in known else "random:fast"
    return model


def _load(spec: str):
    import torch

    from ..model import FAST_CONFIG, NetConfig, build_net
    from ..styles import Style, load_style
    if spec.startswith("random:"):  # no trained file yet: same architecture, random weights
        config = FAST_CONFIG if spec.endswith("fast") else NetConfig()
        torch.manual_seed(0)
        net = build_net(config)
        return Style(name=spec, styles=(spec,), config=config, state=net.state_dict())
    return load_style(spec)


def _make_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A pan over a real picture (the bundled demo clip's first frame, else a smooth gradient) as
    H.264. Real content matters: the encoder's cost depends on it (a clip of random noise makes
    x264 the bottleneck of every end-to-end row)."""
    from fractions import Fraction

    import cv2

    from ..errors import FstError
    from ..media import MediaInfo, Stamp, open_media, open_sink
    from ..styles import bundled_dir
    H, W = height + frames * 2, width + frames * 4
    try:
        with open_media(bundled_dir() / "demo.mp4") as src:
            first = next(iter(src))[0]
        base = cv2.resize(first, (W, H), interpolation=cv2.INTER_CUBIC)
    except (FstError, OSError, StopIteration):  # no demo clip (stripped install): a smooth synthetic scene
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        base = np.stack([xx / W, yy / H, 0.5 + 0.5 * np.sin(xx / 37 + yy / 53)], -1)
        base = (base * 255).astype(np.uint8)
    info = MediaInfo(path=None, kind="video", width=width, height=height, fps=25.0,
                     time_base=Fraction(1, 25))
    with open_sink(path, info, audio=False) as sink:
        for i in range(frames):
            sink.write(np.ascontiguousarray(base[i * 2:i * 2 + height, i * 4:i * 4 + width]),
                       Stamp(pts=i, time_base=Fraction(1, 25)))
    return path


def time_calls(call, repeats: int, seconds: float, clock=time.perf_counter, cap: int = 1000) -> list[float]:
    """Times ``call()`` at least ``repeats`` times and until the calls cover ``seconds`` (at most
    ``cap`` calls); returns each call's duration, s. ``clock`` is a parameter so the rule is tested
    without timing."""
    times: list[float] = []
    while len(times) < repeats or (sum(times) < seconds and len(times) < cap):
        t = clock()
        call()
        times.append(clock() - t)
    return times


def e2e_frame_count(frames: int, seconds: float, per_call: float) -> int:
    """Frames in the end-to-end clip: at least ``frames``, about ``seconds`` at the model-only rate
    (``per_call`` s/frame), at most 600 so a tiny net's clip stays small."""
    return max(frames, min(600, round(seconds / per_call)))


def run_row(model: str, mode: str, width: int, height: int, opts: SpeedOptions, clip: Path) -> dict:
    """Measure one row in this process (called in a subprocess by :func:`run`)."""
    import torch

    from ..media import REALTIME_PRESET, VideoOptions, open_media
    from ..pipeline import ConvertOptions, convert, default_workers
    from ..stylizer import Stylizer, StylizerOptions
    if opts.threads:
        torch.set_num_threads(opts.threads)
    so = StylizerOptions(device="cuda" if mode == "cuda-fp16" else "cpu",
                         precision={"eager-fp32": "fp32", "compiled-fp32": "fp32",
                                    "compiled-bf16": "bf16", "cuda-fp16": "fp16"}[mode],
                         compile=mode.startswith("compiled"))
    style = _load(_style_for(model))
    stylizer = Stylizer(style, replace(so, scale=0.5 if model == "fast-half" else None))
    frame = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    sync = torch.cuda.synchronize if mode == "cuda-fp16" else (lambda: None)
    t = time.perf_counter()
    stylizer(frame)
    sync()
    first = time.perf_counter() - t
    times = time_calls(lambda: (stylizer(frame), sync()), opts.repeats, opts.seconds)
    per_call = statistics.median(times)
    n_e2e = e2e_frame_count(opts.frames, opts.seconds, per_call)
    with tempfile.TemporaryDirectory() as tmp:
        if n_e2e > opts.frames:
            clip = _make_clip(Path(tmp) / "long.mp4", width, height, n_e2e)
        # as `fstvideo convert` runs it: eager CPU nets stylize two frames at once (one thread each)
        workers = default_workers(stylizer)
        video = VideoOptions(preset=REALTIME_PRESET) if model in ("fast", "fast-half") else VideoOptions()
        result = convert(clip, Path(tmp) / "out.mp4", stylizer,
                         options=ConvertOptions(audio=False, workers=workers, video=video))
        t = time.perf_counter()
        n = 0
        with open_media(clip) as src:
            for f, _ in src:
                stylizer(f)
                if n == 0:
                    real = f  # a real frame for the accuracy check below
                n += 1
        live = n / (time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if mode == "cuda-fp16":
        peak = torch.cuda.max_memory_allocated() / 2**20
    diff_max, diff_mean = difference(stylizer, style, real)
    return {"model": model, "style": stylizer.style.name, "mode": mode, "width": width, "height": height,
            "fps_model": 1 / per_call, "fps_e2e": result.fps, "fps_live": live,
            "first_call_s": first, "peak_mem_mb": peak, "e2e_workers": workers, "scale": stylizer.scale,
            "params": sum(p.numel() for p in stylizer.net.parameters()), "diff_max": diff_max, "diff_mean": diff_mean,
            "model_calls": len(times), "e2e_frames": result.frames, "e2e_preset": video.preset,
            "e2e_ratio": result.fps * per_call}


def difference(stylizer, style, frame: np.ndarray) -> tuple[float, float]:
    """Max and mean absolute difference (0-255 levels) of ``stylizer(frame)`` from the eager fp32
    output of the same style, scale and device."""
    from ..stylizer import Stylizer
    o = stylizer.options
    if o.precision == "fp32" and not o.compile:
        return 0.0, 0.0
    ref = Stylizer(style, replace(o, precision="fp32", compile=False))(frame).astype(np.int16)
    d = np.abs(stylizer(frame).astype(np.int16) - ref)
    return float(d.max()), float(d.mean())


def run_accuracy(opts: SpeedOptions, log=print) -> list[dict]:
    """Eager bf16 (CPU; emulated where the CPU has no native bf16: slow, so one frame at the
    smallest size) and fp16 (CUDA) against eager fp32, per model, on a real frame."""
    import torch

    from ..media import open_media
    from ..stylizer import Stylizer, StylizerOptions
    w, h = min(opts.sizes, key=lambda s: s[0] * s[1])
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = _make_clip(Path(tmp) / "frame.mp4", w, h, 1)
        with open_media(clip) as src:
            frame = next(iter(src))[0]
    for model in opts.models:
        style = _load(_style_for(model))
        scale = 0.5 if model == "fast-half" else None  # None: the scale the file was trained for
        for device, precision in (("cpu", "bf16"),) + ((("cuda", "fp16"),) if torch.cuda.is_available() else ()):
            st = Stylizer(style, StylizerOptions(device=device, precision=precision, scale=scale))
            dmax, dmean = difference(st, style, frame)
            out.append({"model": model, "style": st.style.name, "device": device, "precision": precision,
                        "width": w, "height": h, "diff_max": dmax, "diff_mean": dmean})
            log(f"{model:8s} eager {precision} {device} {w}x{h}: max {dmax:.0f}, mean {dmean:.2f} levels from fp32")
    return out


def run(opts: SpeedOptions, log=print) -> list[dict]:
    rows: list[dict] = []
    combos = [("johnson", "eager-fp32")] + [(m, mo) for m in opts.models for mo in opts.modes
                                           if (m, mo) != ("johnson", "eager-fp32")]
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in opts.sizes:
            clip = _make_clip(Path(tmp) / f"clip{w}x{h}.mp4", w, h, opts.frames)
            for model, mode in combos:
                why = _mode_available(mode)
                if why:
                    log(f"skip {model} {mode} {w}x{h}: {why}")
                    continue
                cmd = [sys.executable, "-m", "fstvideo.bench.speed", "--row",
                       json.dumps([model, mode, w, h, asdict(opts), str(clip)])]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    log(f"failed {model} {mode} {w}x{h}: {proc.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                log(f"{model:8s} {mode:14s} {w}x{h}: {row['fps_model']:.2f} frames/s model-only")
    ref = {(r["width"], r["height"]): r["fps_model"] for r in rows
           if r["model"] == "johnson" and r["mode"] == "eager-fp32"}
    for r in rows:
        base = ref.get((r["width"], r["height"]))
        r["x_ref"] = r["fps_model"] / base if base else None
    return rows


def table(rows: list[dict]) -> str:
    head = (f"{'model':8s} {'style':22s} {'mode':14s} {'size':>9s} {'fps model':>9s} {'x ref':>6s} "
            f"{'fps e2e':>8s} {'e2e/mod':>7s} {'fps live':>8s} {'first s':>8s} {'peak MB':>8s} {'diff max/mean':>13s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        xr = f"{r['x_ref']:.2f}" if r.get("x_ref") else "-"
        lines.append(f"{r['model']:8s} {r['style'][:22]:22s} {r['mode']:14s} {r['width']:>4d}x{r['height']:<4d} "
                     f"{r['fps_model']:9.2f} {xr:>6s} {r['fps_e2e']:8.2f} {r['e2e_ratio']:7.2f} {r['fps_live']:8.2f} "
                     f"{r['first_call_s']:8.2f} {r['peak_mem_mb']:8.0f} "
                     f"{r.get('diff_max', 0):7.0f}/{r.get('diff_mean', 0):<5.2f}")
    return "\n".join(lines)


def accuracy_table(acc: list[dict]) -> str:
    lines = ["eager autocast vs eager fp32 on one real frame (0-255 levels):"]
    for a in acc:
        lines.append(f"{a['model']:8s} {a['style'][:22]:22s} {a['precision']:5s} {a['device']:5s} "
                     f"{a['width']:>4d}x{a['height']:<4d} max {a['diff_max']:4.0f}  mean {a['diff_mean']:5.2f}")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def _handler(args) -> int:
    import torch
    sizes = tuple(_size(s) for s in args.sizes.split(","))
    opts = SpeedOptions(models=tuple(args.models.split(",")), modes=tuple(args.modes.split(",")),
                        sizes=sizes, repeats=args.repeats, seconds=args.seconds, frames=args.frames,
                        threads=args.threads)
    rows = run(opts, log=(lambda s: print(s, file=sys.stderr)))
    acc = run_accuracy(opts, log=(lambda s: print(s, file=sys.stderr)))
    text = table(rows) + "\n\n" + accuracy_table(acc)
    header = (f"fstvideo bench speed — torch {torch.__version__}, {os.cpu_count()} CPUs, "
              f"{torch.backends.cpu.get_cpu_capability()}, cuda: {torch.cuda.is_available()}")
    save = save_table(Path(args.save), header + "\n" + text, {"rows": rows, "accuracy": acc})
    if args.json:
        print(json.dumps({"rows": rows, "accuracy": acc}))
    else:
        print(header)
        print(text)
        print(f"saved {save} and {save.with_suffix('.json')}", file=sys.stderr)
    return 0


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("speed", help="frames/s per model variant, mode and size")
    p.add_argument("--models", default="johnson,fast,fast-half",
                   help="comma list: johnson, fast, fast-half (= convert --fast), or style names/paths")
    p.add_argument("--modes", default=",".join(MODES), help="comma list of " + ", ".join(MODES))
    p.add_argument("--sizes", default="320x240,640x480,1280x720", help="comma list of WxH")
    p.add_argument("--repeats", type=int, default=5, help="at least this many timed calls per row (median)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="time calls for at least this long per row; end-to-end clip about this long (s)")
    p.add_argument("--frames", type=int, default=24, help="at least this many frames in the end-to-end clip")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of the table")
    p.add_argument("--save", default="runs/bench/speed.txt", help="where to save the table (+ .json)")
    p.set_defaults(func=_handler)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--row":
    model, mode, w, h, fields, clip = json.loads(sys.argv[2])
    fields["sizes"] = tuple(tuple(s) for s in fields["sizes"])
    given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    row_opts = SpeedOptions(**given)
    print(json.dumps(run_row(model, mode, w, h, row_opts, Path(clip))))
