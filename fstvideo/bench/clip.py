"""``fstvideo bench convert CLIP``: does ``fstvideo convert`` keep up with the net on a real clip?

Rounds alternate two timings of the same stylizer on the same clip (a shared or virtual CPU's
speed can drift up to 1.3x minute to minute, so interleaving matters more than repeats):

- ``fps_model``: the net alone, one decoded frame after another (frames decoded before timing,
  tensor conversion and padding included), on torch's default threads;
- ``fps_convert``: :func:`fstvideo.pipeline.convert` of the whole file to a temporary file as
  ``fstvideo convert`` runs it (its frame workers and, with ``--fast``, x264 ultrafast): decode,
  stylize and encode overlapped, opening the encoder and the final flush included.

The summary is each column's median and their ratio (the target: convert at >= 0.9x model-only).
A clip of a few seconds weighs the fixed costs (opening the encoder, the flush) more than a long one.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .report import save_table


@dataclass(frozen=True)
class ClipBenchOptions:
    clip: str                  # video or GIF file to convert
    style: str = ""            # style name or file; "" = the bundled default
    fast: bool = False         # the style's fast variant and x264 ultrafast, as `convert --fast`
    rounds: int = 5            # interleaved (model-only, convert) pairs; the summary takes medians
    max_frames: int = 0        # >0: only this many frames of the clip in the model-only timing (memory: the
                               # frames are held decoded, 0.9 MB each at 640x480); convert always runs it all


def run(opts: ClipBenchOptions, log=print) -> dict:
    from ..media import REALTIME_PRESET, VideoOptions, open_media
    from ..pipeline import ConvertOptions, convert, default_workers
    from ..styles import DEFAULT_STYLE, load_style, resolve_fast
    from ..stylizer import Stylizer
    spec = opts.style or DEFAULT_STYLE
    style = load_style(resolve_fast(spec) if opts.fast else spec)
    stylizer = Stylizer(style)
    with open_media(opts.clip) as src:
        info = src.info
        frames = []
        for frame, _ in src:
            frames.append(frame)
            if opts.max_frames and len(frames) >= opts.max_frames:
                break
    if not frames:
        from ..errors import MediaError
        raise MediaError(f"{opts.clip}: no video frames")
    for f in frames[:3]:  # warm-up (allocator, first-call costs) kept out of both timings
        stylizer(f)
    workers = default_workers(stylizer)
    video = VideoOptions(preset=REALTIME_PRESET) if opts.fast else VideoOptions()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("out" + (".gif" if info.kind == "gif" else ".mp4"))
        for k in range(1, opts.rounds + 1):
            t = time.perf_counter()
            for f in frames:
                stylizer(f)
            model = len(frames) / (time.perf_counter() - t)
            result = convert(opts.clip, out, stylizer, options=ConvertOptions(workers=workers, video=video))
            rounds.append({"round": k, "fps_model": model, "fps_convert": result.fps,
                           "ratio": result.fps / model, "frames": result.frames})
            log(f"round {k}: model {model:.1f} frames/s, convert {result.fps:.1f} ({result.fps / model:.2f}x)")
    fm = statistics.median(r["fps_model"] for r in rounds)
    fc = statistics.median(r["fps_convert"] for r in rounds)
    return {"clip": str(opts.clip), "style": style.name, "width": info.width, "height": info.height,
            "frames": rounds[-1]["frames"], "workers": workers, "preset": video.preset,
            "fps_model": fm, "fps_convert": fc, "ratio": fc / fm, "rounds": rounds, "options": asdict(opts)}


def table(res: dict) -> str:
    lines = [f"{res['clip']}: {res['width']}x{res['height']}, {res['frames']} frames; style {res['style']}, "
             f"convert with {res['workers']} frame worker(s), x264 {res['preset']}",
             f"{'round':>5s} {'fps model':>10s} {'fps convert':>12s} {'ratio':>6s}"]
    for r in res["rounds"]:
        lines.append(f"{r['round']:5d} {r['fps_model']:10.1f} {r['fps_convert']:12.1f} {r['ratio']:6.2f}")
    lines.append(f"{'median':>5s} {res['fps_model']:10.1f} {res['fps_convert']:12.1f} {res['ratio']:6.2f}"
                 "  (ratio of the medians)")
    return "\n".join(lines)


def _handler(args) -> int:
    import torch

    from ..errors import OptionsError
    if args.rounds < 1:
        raise OptionsError(f"--rounds must be at least 1 (got {args.rounds})")
    res = run(ClipBenchOptions(clip=args.clip, style=args.style or "", fast=args.fast, rounds=args.rounds,
                               max_frames=args.max_frames), log=lambda s: print(s, file=sys.stderr))
    header = (f"fstvideo bench convert — torch {torch.__version__}, {os.cpu_count()} CPUs, "
              f"{torch.backends.cpu.get_cpu_capability()}")
    save = save_table(Path(args.save), header + "\n" + table(res), res)
    if args.json:
        print(json.dumps(res))
    else:
        print(header)
        print(table(res))
        print(f"saved {save} and {save.with_suffix('.json')}", file=sys.stderr)
    return 0


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("convert", help="convert vs model-only frames/s on one clip, interleaved rounds")
    p.add_argument("clip", help="video or GIF file")
    p.add_argument("--style", default=None, help="style name or .safetensors path (default: starry_night)")
    p.add_argument("--fast", action="store_true", help="the fast variant and x264 ultrafast, as convert --fast")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    p.add_argument("--max-frames", type=int, default=0,
                   help="frames held decoded for the model-only timing (0 = all; convert runs the whole clip)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of the table")
    p.add_argument("--save", default="runs/bench/convert.txt", help="where to save the table (+ .json)")
    p.set_defaults(func=_handler)
