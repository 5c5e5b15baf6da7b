"""``fstvideo bench temporal CLIP``: how much a stylized video flickers, and what smoothing
costs in style, as a frontier: every smoothing method is swept over its strengths.

Per row (``bench.flicker`` defines the flicker measures): E_warp (Lai et al. 2018), E_warp on
moving objects, the mean absolute difference to the per-frame output (everywhere, and on moving
and occluded pixels, where trails show) and the VGG16 style loss of the outputs to the painting
(Johnson et al. 2016: Gram matrices of relu1_2, relu2_2, relu3_3, relu4_3 normalised by C*H*W,
the style file's training layer weights and painting size) over evenly spaced frames. Methods
compare at equal style loss, not at one strength: the table is saved with its JSON and a PNG of
E_warp against style loss (``bench.frontier``).

Rows: ``per-frame``; ``ema`` at each weight w, ``out = w * out_prev + (1 - w) * stylized``
(the exponential blend other tools call ``--smooth``); ``smoother``,
:class:`~fstvideo.temporal.Smoother` at each strength (its default strength marked).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import FstError, MediaError, OptionsError
from ..flow import fit_size, resize
from ..stylemeta import find_painting
from ..temporal import SmoothOptions
from .flicker import MOVING_PX, ema, flow_pairs, mean_abs_diff, moving, trail, warping_error
from .report import save_table


@dataclass(frozen=True)
class TemporalBenchOptions:
    clip: str = ""                      # video or GIF to stylize
    style: str = ""                     # style name or .safetensors path; "" = the bundled default
    painting: str = ""                  # painting for the style loss; "" = found from the style file
    size: int = 360                     # px, longest side the frames are resized to (flow and style
                                        # loss cost ~ size^2)
    max_frames: int = 60                # frames read from the start of the clip
    ema: tuple[float, ...] = (0.2, 0.5, 0.7, 0.8, 0.9)              # EMA weights of the previous output
    smooth: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0)  # Smoother strengths; its default
                                        # strength is added when missing (the one users get)
    style_frames: int = 12              # evenly spaced frames scored with VGG16 per row (~0.3 s each
                                        # at 360 px on this CPU; rows x frames in all)
    moving_px: float = MOVING_PX        # px at --size, flow relative to the median: a moving object
    device: str = "auto"                # device of the stylizer: auto, cpu, cuda
    save: str = ""                      # table file; "" = runs/bench/temporal-<clip>.txt (+ .json, .png)

    def validate(self) -> TemporalBenchOptions:
        if self.size < 16:
            raise OptionsError(f"--size must be at least 16 px, got {self.size}")
        if self.max_frames < 2:
            raise OptionsError(f"--max-frames must be at least 2, got {self.max_frames}")
        if self.style_frames < 0 or self.moving_px < 0:
            raise OptionsError("--style-frames and --moving-px must be >= 0")
        for w in self.ema:
            if not 0.0 <= w < 1.0:
                raise OptionsError(f"EMA weights must be in [0, 1), got {w}")
        for s in self.smooth:
            SmoothOptions(strength=s).validate()
        return self


# -- style retention -----------------------------------------------------------------------------
class StyleMeter:
    """VGG16 style loss of frames to one painting; ``None`` when weights or painting are missing
    (``note`` says why)."""

    def __init__(self, style, painting: str | None = None):
        self.note, self.vgg = "", None
        path = find_painting(style, painting)
        if path is None:
            self.note = "style loss: painting not found (pass --painting PATH)"
            return
        try:
            import torch

            from fstvideo.train.data import load_painting
            from fstvideo.train.losses import gram
            from fstvideo.train.vgg import JOHNSON_STYLE, VGGFeatures
            config = ((style.meta or {}).get("training") or {}).get("config") or {}
            self.layers = {str(n): float(w) for n, w in config.get("style_layers") or []} \
                or {n: 1.0 for n in JOHNSON_STYLE}
            self.vgg = VGGFeatures(tuple(self.layers), "vgg16")
            with torch.inference_mode():
                feats = self.vgg(load_painting(path, int(config.get("style_size") or 320)))
                self.targets = {k: gram(feats[k]) for k in self.layers}
            self.painting = path
        except ImportError as e:
            self.vgg, self.note = None, f"style loss: training extras unavailable ({e})"
        except FstError as e:  # WeightsError: no VGG16 weights on this machine
            self.vgg, self.note = None, f"style loss: {e}"

    def __call__(self, frames: list[np.ndarray]) -> float | None:
        if self.vgg is None:
            return None
        import torch

        from fstvideo.frames import to_tensor
        from fstvideo.train.losses import style_loss
        with torch.inference_mode():
            return float(np.mean([float(style_loss(self.vgg(to_tensor(f)), self.targets, self.layers))
                                  for f in frames]))


# -- the benchmark -------------------------------------------------------------------------------
def read_clip(path: str | os.PathLike, size: int | None, max_frames: int | None) -> list[np.ndarray]:
    """Decoded frames, longest side resized to ``size`` (never enlarged)."""
    from ..media import open_media
    frames: list[np.ndarray] = []
    with open_media(path) as source:
        for frame, _ in source:
            if max_frames and len(frames) >= max_frames:
                break
            frames.append(resize(frame, fit_size(frame.shape[0], frame.shape[1], size)) if size else frame)
    if len(frames) < 2:
        raise MediaError(f"{path}: a temporal benchmark needs at least 2 frames, got {len(frames)}")
    return frames


def sweep(ema_weights=TemporalBenchOptions.ema, smooth_strengths=TemporalBenchOptions.smooth,
          smooth: SmoothOptions = SmoothOptions()) -> list[tuple[str, float, Callable]]:
    """(method, strength, make(frames, stylized) -> outputs) for per-frame, each EMA weight and
    each Smoother strength (``smooth`` with its strength replaced; its own strength is added)."""
    from ..temporal import Smoother

    def smoothed(strength):
        def make(frames, stylized):
            s = Smoother(replace(smooth, strength=strength))
            return [s(f, y) for f, y in zip(frames, stylized)]
        return make
    def per_frame(frames, stylized):
        return stylized
    rows: list[tuple[str, float, Callable]] = [("per-frame", 0.0, per_frame)]
    rows += [("ema", float(w), lambda frames, stylized, w=w: ema(stylized, w)) for w in ema_weights]
    strengths = sorted({float(s) for s in smooth_strengths} | {float(smooth.strength)})
    rows += [("smoother", s, smoothed(s)) for s in strengths]
    return rows


def evaluate(frames: list[np.ndarray], stylized: list[np.ndarray], methods=None,
             meter: StyleMeter | None = None, style_frames: int = 12, preset: str = "medium",
             moving_px: float = MOVING_PX, default_strength: float = SmoothOptions.strength) -> dict:
    """One row per (method, strength) of ``methods`` (default: :func:`sweep`'s) on an already
    stylized clip; rows keep ``methods``' order, per-frame first."""
    methods = sweep() if methods is None else methods
    pairs = flow_pairs(frames, preset)
    mpairs = moving(pairs, moving_px)
    k = min(style_frames, len(frames) - 1)
    picks = sorted({round(i) for i in np.linspace(1, len(frames) - 1, k)}) if k > 0 else []
    rows, base_style = [], None
    for method, strength, make in methods:
        t0 = time.perf_counter()
        outs = make(frames, stylized)
        ms = (time.perf_counter() - t0) * 1000 / len(frames)
        style = meter([outs[i] for i in picks]) if meter is not None and picks else None
        base_style = style if method == "per-frame" else base_style
        rows.append({
            "method": method, "strength": strength,
            "default": method == "smoother" and math.isclose(strength, default_strength),
            "e_warp": warping_error(outs, pairs), "e_warp_moving": warping_error(outs, mpairs),
            "style_loss": style,
            "style_vs_per_frame": style / base_style if style is not None and base_style else None,
            "diff_to_per_frame": mean_abs_diff(outs, stylized),
            "trail": trail(outs, stylized, pairs, mpairs),
            "ms_per_frame": round(ms, 2) if method != "per-frame" else 0.0})
    return {"frames": len(frames), "size": list(frames[0].shape[:2]),
            "input_e_warp": warping_error(frames, pairs),
            "reliable_fraction": float(np.mean([m.mean() for _, m in pairs])),
            "moving_fraction": float(np.mean([m.mean() for _, m in mpairs])),
            "cuts": [t for t, (_, m) in enumerate(pairs, start=1) if not m.any()],
            "flow": {"method": "OpenCV DIS", "preset": preset, "on": "input frames, BT.601 grey"},
            "moving_px": moving_px, "style_frames": picks, "rows": rows}


def format_table(result: dict) -> str:
    def num(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)
    h, w = result["size"]
    lines = [f"temporal stability: {result.get('clip', '?')} ({result['frames']} frames at {w}x{h}, "
             f"style {result.get('style', '?')})",
             f"E_warp of the input itself: {result['input_e_warp']:.6f}; reliable pixels "
             f"{100 * result['reliable_fraction']:.1f}%, moving (> {result['moving_px']:g} px from the "
             f"median flow) {100 * result['moving_fraction']:.1f}%; scene cuts skipped before frames "
             f"{result['cuts'] or 'none'}",
             f"{'method':<10}{'strength':>9}{'E_warp':>10}{'vs per-frame':>13}{'moving':>9}"
             f"{'style':>10}{'|out-perframe|':>16}{'trail':>8}{'ms/frame':>9}",
             f"{'':<10}{'':>9}{'':>10}{'':>13}{'vs p-f':>9}{'vs p-f':>10}{'':>16}{'':>8}{'':>9}"]
    base = result["rows"][0]
    ew, ewm = base["e_warp"] or float("nan"), base["e_warp_moving"] or float("nan")
    for r in result["rows"]:
        mark = "*" if r.get("default") else ""
        strength = "" if r["method"] == "per-frame" else f"{r['strength']:g}{mark}"
        lines.append(f"{r['method']:<10}{strength:>9}{r['e_warp']:>10.6f}{r['e_warp'] / ew:>12.3f}x"
                     f"{r['e_warp_moving'] / ewm:>8.3f}x{num(r['style_vs_per_frame'], '9.3f')}x"
                     f"{r['diff_to_per_frame']:>16.4f}{r['trail']:>8.4f}{r['ms_per_frame']:>9.1f}")
    lines.append(f"per-frame style loss {num(base['style_loss'], '.4e')}; * = the Smoother's default strength; "
                 "moving = E_warp on moving objects; trail = |out-perframe| on moving and occluded pixels")
    if result.get("note"):
        lines.append(result["note"])
    return "\n".join(lines) + "\n"


def run(opts: TemporalBenchOptions, log=print) -> tuple[dict, str, Path]:
    """Stylize, sweep, save table + JSON + PNG; (result, table, table path)."""
    from ..styles import DEFAULT_STYLE, load_style
    from ..stylizer import Stylizer, StylizerOptions
    from .frontier import plot_frontier
    opts.validate()
    style = load_style(opts.style or DEFAULT_STYLE)
    frames = read_clip(opts.clip, opts.size, opts.max_frames)
    stylizer = Stylizer(style, StylizerOptions(device=opts.device))
    stylized = [stylizer(f) for f in frames]
    meter = StyleMeter(style, opts.painting or None)
    result = {"clip": str(opts.clip), "style": style.name, "options": asdict(opts),
              **evaluate(frames, stylized, sweep(opts.ema, opts.smooth), meter, opts.style_frames,
                         moving_px=opts.moving_px)}
    if meter.vgg is not None:
        result["painting"] = str(meter.painting)
    if meter.note:
        result["note"] = meter.note
    table = format_table(result)
    save = Path(opts.save) if opts.save else Path("runs") / "bench" / f"temporal-{Path(opts.clip).stem}.txt"
    save_table(save, table.rstrip("\n"), result)
    try:
        plot_frontier(result, save.with_suffix(".png"))
        log(f"saved {save}, {save.with_suffix('.json')} and {save.with_suffix('.png')}")
    except ImportError as e:  # matplotlib comes with the train and dev extras
        log(f"saved {save} and {save.with_suffix('.json')}; no plot: {e} (pip install 'fstvideo[train]')")
    return result, table, save


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def _handler(args: argparse.Namespace) -> int:
    opts = TemporalBenchOptions(
        clip=args.clip, style=args.style or "", painting=args.painting or "", size=args.size,
        max_frames=args.max_frames, ema=args.ema, smooth=args.smooth, style_frames=args.style_frames,
        moving_px=args.moving_px, device=args.device, save=args.save or "")
    result, table, _ = run(opts, log=lambda s: print(s, file=sys.stderr))
    if args.json:
        print(table, end="", file=sys.stderr)
        print(json.dumps(result, indent=1))
    else:
        print(table, end="")
    return 0


def register(bench_subparsers) -> None:
    d = TemporalBenchOptions
    p = bench_subparsers.add_parser("temporal", help="flicker (warping error) against style retention "
                                                     "of per-frame, EMA and flow-guided smoothing, swept")
    p.add_argument("clip", help="video or GIF to stylize")
    p.add_argument("--style", default=None, help="style name or .safetensors path (default: starry_night)")
    p.add_argument("--painting", default=None, help="painting for the style loss (default: from the style file)")
    p.add_argument("--size", type=int, default=d.size, help="longest side of the frames, px (default: %(default)s)")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help="frames read (default: %(default)s)")
    p.add_argument("--ema", type=_floats, default=d.ema, metavar="W,W,...",
                   help=f"EMA weights swept (default: {','.join(map(str, d.ema))})")
    p.add_argument("--smooth", type=_floats, default=d.smooth, metavar="S,S,...",
                   help=f"Smoother strengths swept, its default {SmoothOptions.strength} always included "
                        f"(default: {','.join(map(str, d.smooth))})")
    p.add_argument("--style-frames", type=int, default=d.style_frames,
                   help="evenly spaced frames scored with VGG16 per row (default: %(default)s)")
    p.add_argument("--moving-px", type=float, default=d.moving_px,
                   help="px of flow against the median flow that make a pixel moving (default: %(default)s)")
    p.add_argument("--device", default=d.device, help="device of the stylizer: auto, cpu, cuda")
    p.add_argument("--json", action="store_true", help="print JSON on stdout (table on stderr)")
    p.add_argument("--save", default=None,
                   help="table file; its .json and .png beside it (default: runs/bench/temporal-<clip>.txt)")
    p.set_defaults(func=_handler)
