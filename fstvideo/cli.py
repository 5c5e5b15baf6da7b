"""The ``fstvideo`` command. Handlers turn argparse Namespaces into option dataclasses and call
the library; user errors (``FstError``) become one line on stderr and exit code 2, Ctrl-C exits
130 (SIGTERM 143, SIGHUP 129) after the sinks removed their temporary files."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from .errors import FstError, OptionsError

# Subcommands that live with their feature: module -> function adding them to the subparsers.
_REGISTERED = [
    ("fstvideo.train.cli", "register"),
    ("fstvideo.gui.app", "register"),
    ("fstvideo.export", "register"),
    ("fstvideo.live", "register"),
]
_BENCH = ["fstvideo.bench.quality", "fstvideo.bench.compare", "fstvideo.bench.temporal", "fstvideo.bench.speed",
          "fstvideo.bench.clip"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_blend(text: str) -> tuple[str, tuple[tuple[str, float], ...]]:
    """'a:0.6,b:0.4' -> ('a:0.6,b:0.4' style spec, blend pairs); 'name' -> ('name', ())."""
    if ":" not in text or text.endswith(".safetensors") and "," not in text:
        return text, ()
    pairs = []
    for part in text.split(","):
        name, _, weight = part.rpartition(":")
        try:
            pairs.append((name.strip(), float(weight)))
        except ValueError:
            raise OptionsError(f"bad style weight in '{part}' (expected NAME:WEIGHT)") from None
    return text, tuple(pairs)


def _add_stylizer_args(p: argparse.ArgumentParser) -> None:
    from .stylizer import StylizerOptions
    p.add_argument("--style", default=None,
                   help="bundled/user style name, a .safetensors path, or a blend 'a:0.6,b:0.4' "
                        "of the styles in one multi-style file (default: %(default)s → starry_night)")
    p.add_argument("--strength", type=float, default=1.0, help="0 = original, 1 = full style")
    p.add_argument("--strength-mode", default="pixels", choices=("pixels", "norm"),
                   help="how strength < 1 weakens the style: pixels = mix with the input (default), "
                        "norm = interpolate the network's norm parameters toward its 'photo' slot")
    p.add_argument("--preserve-color", action="store_true", help="stylize luminance only")
    p.add_argument("--max-size", type=int, default=None, help="longest side the net sees (px)")
    p.add_argument("--max-pixels", type=int, default=StylizerOptions.max_pixels, metavar="N",
                   help="pixel budget: larger images and frames are stylized in overlapping tiles of at most "
                        "N pixels, in bounded memory (default %(default)s, for a 4 GB machine)")
    p.add_argument("--stroke", type=float, default=StylizerOptions.stroke, metavar="S",
                   help="brush size: inputs larger than the style's processing size are stylized at "
                        "that size / S and upsampled edge-aware (2 = larger strokes, 0.5 = finer, "
                        "0 = always at full size; default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16")
    p.add_argument("--compile", action="store_true", help="torch.compile the net (slow first frame)")
    p.add_argument("--fast", action="store_true",
                   help="fast CPU path: the style's fast variant (all convs at 1/4 resolution or below, "
                        "pixel-shuffle out); compiled for clips of 10000+ frames (compiling takes ~20 s)")
    p.add_argument("--scale", type=float, default=StylizerOptions.scale,
                   help="resolution the net sees relative to the input, edge-aware upsampling back "
                        "(default: the scale the style was trained for, 1 for the bundled ones)")


def build_stylizer(args: argparse.Namespace):
    from .styles import DEFAULT_STYLE, load_style, resolve_fast
    from .stylizer import Stylizer, StylizerOptions
    spec, blend = parse_blend(args.style or DEFAULT_STYLE)
    if blend and sum(w > 0 for _, w in blend) == 1 and args.strength_mode == "pixels":
        # One style at full weight is that style: its own file, so 'a:1,b:0' shows what 'a' shows.
        spec, blend = next(n for n, w in blend if w > 0), ()
    if blend:
        names = [n for n, _ in blend]
        style = load_style(multi_style_for(names, fast=args.fast))
    else:
        style = load_style(resolve_fast(spec) if args.fast else spec)
    options = StylizerOptions(device=args.device, precision=args.precision, strength=args.strength,
                              strength_mode=args.strength_mode, preserve_color=args.preserve_color,
                              max_size=args.max_size, scale=args.scale, stroke=args.stroke,
                              # commands without --max-pixels build Namespaces without it
                              max_pixels=getattr(args, "max_pixels", StylizerOptions.max_pixels),
                              compile=args.compile or args.fast, blend=blend)
    return Stylizer(style, options)


def multi_style_for(names: list[str], fast: bool = False) -> str:
    """The bundled/user multi-style file that holds every name in ``names``: with ``fast`` a fast
    variant (name ending in _fast) first, else a full one first."""
    from .styles import list_styles, load_style
    found = []
    for name, path in list_styles().items():
        try:
            style = load_style(path)
        except FstError:
            continue
        if len(style.styles) > 1 and all(n in style.styles for n in names):
            found.append((name.endswith("_fast") != fast, len(style.styles), str(path)))
    if not found:
        raise OptionsError(f"no multi-style file holds all of {', '.join(names)}")
    return min(found, key=lambda f: (f[0], -f[1]))[2]


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _cmd_convert(args: argparse.Namespace) -> int:
    from .jobs import ConvertRequest, run_convert
    from .mediabase import REALTIME_PRESET, VideoOptions
    from .pipeline import ConvertOptions
    top = 63 if str(args.output or "").lower().endswith(".webm") else 51  # VP9 / H.264 CRF scales
    if args.crf is not None and not 0 <= args.crf <= top:
        raise OptionsError(f"--crf must be in 0-{top} (got {args.crf})")
    if args.workers is not None and not 1 <= args.workers <= 16:
        raise OptionsError(f"--workers must be in 1-16 (got {args.workers})")
    preset = args.preset or (REALTIME_PRESET if args.fast else VideoOptions.preset)
    options = ConvertOptions(audio=not args.no_audio, batch=args.batch, workers=args.workers,
                             video=VideoOptions(crf=args.crf, preset=preset))
    request = ConvertRequest(input=args.input, output=args.output, overwrite=args.overwrite, smooth=args.smooth,
                             quiet=args.quiet, compile=True if args.compile else None if args.fast else False,
                             options=options)
    run_convert(request, build_stylizer(args))
    return 0


def _cmd_styles(args: argparse.Namespace) -> int:
    from .stylemeta import credits
    from .styles import DEFAULT_STYLE, bundled_dir, list_styles, load_style
    for name, path in list_styles().items():
        try:
            s = load_style(path)
            credit = "; ".join(f"{c.get('work', '')} ({c.get('artist', '')}, {c.get('year', '')})"
                               for c in credits(s) if c) or ""
            where = "bundled" if path.parent == bundled_dir() else str(path.parent)
            slots = f" [{', '.join(s.styles)}]" if len(s.styles) > 1 else ""
            mark = " (default)" if name == DEFAULT_STYLE else ""
            print(f"{name}{mark}{slots}\t{where}\t{credit}")
        except FstError as e:
            print(f"{name}\tunreadable: {e}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import av
    import numpy
    import torch

    from . import __version__
    from .styles import bundled_dir, user_dir
    print(f"fstvideo {__version__}")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, numpy {numpy.__version__}, "
          f"PyAV {av.__version__} (FFmpeg {'.'.join(map(str, av.library_versions['libavcodec']))} libavcodec)")
    print(f"cpu: {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            print(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        print("cuda: not available")
    print(f"styles: {bundled_dir()} (bundled), {user_dir()} (user)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fstvideo", description="Real-time neural style transfer for videos, GIFs, "
                                                  "images and a live webcam window.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("convert", help="stylize a video, GIF, image or folder")
    p.add_argument("input", help="video, GIF, image, folder, or - for an image on stdin")
    p.add_argument("-o", "--output", default=None,
                   help="output path (default: <input stem>_<style>.<ext> beside the input; - for stdout)")
    _add_stylizer_args(p)
    from .temporal import SmoothOptions
    p.add_argument("--smooth", nargs="?", type=float, const=SmoothOptions.strength, default=None, metavar="S",
                   help="flow-guided temporal smoothing, strength S in [0,1] (default %(const)s when given)")
    p.add_argument("--no-audio", action="store_true", help="drop audio streams")
    p.add_argument("--crf", type=int, default=None, metavar="N",
                   help="video quality, lower = better and larger (default 18 for H.264, 31 for VP9)")
    p.add_argument("--preset", default=None, choices=X264_PRESETS,
                   help="encoder speed/size trade-off (default veryfast; with --fast ultrafast, which "
                        "encodes ~2x faster into ~1.5x larger files, so the encoder keeps up with the net)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--batch", type=int, default=1, help="frames per forward pass")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="frames stylized at once, one torch thread each (default: 2 on a multi-core CPU "
                        "unless compiled, else 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_convert)
    sub.add_parser("styles", help="list bundled and user styles").set_defaults(func=_cmd_styles)
    sub.add_parser("info", help="versions and devices").set_defaults(func=_cmd_info)
    for module, fn in _REGISTERED:
        try:
            getattr(importlib.import_module(module), fn)(sub)
        except ImportError:  # optional feature not installed (e.g. PyQt6 for the window)
            continue
    bench = sub.add_parser("bench", help="benchmarks: tables printed and saved")
    bench_sub = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    for module in _BENCH:
        try:
            importlib.import_module(module).register(bench_sub)
        except ImportError:
            continue
    return parser


def main(argv: list[str] | None = None) -> int:
    from .interrupt import describe, exit_code, signals_interrupt
    args = build_parser().parse_args(argv)
    try:
        with signals_interrupt():  # SIGTERM/SIGHUP unwind like Ctrl-C: temp files removed
            return int(args.func(args) or 0)
    except FstError as e:
        print(f"fstvideo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"fstvideo: {describe(e)}", file=sys.stderr)
        return exit_code(e)
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
