"""``fstvideo bench temporal CLIP``: how much a stylized video flickers, and what smoothing
costs in style.

Flicker is the warping error of Lai et al. 2018 ("Learning Blind Video Temporal
Consistency"): for each pair of consecutive frames, output t-1 is warped onto frame t by the
optical flow of the *input* frames, occluded or unreliable pixels are masked by the
forward-backward test of Ruder et al. 2016 (``|w_b + w~_f|^2 > 0.01 (|w_b|^2 + |w~_f|^2) + 0.5``,
and pixels whose flow leaves the frame), and the mean squared error over the unmasked pixels
and the three channels, values in [0,1], is averaged over the clip's pairs. Pairs across a
scene cut (32 px grey thumbnails differ by more than 0.18 in mean, or fewer than 25% of the
pixels pass the forward-backward test) are skipped and listed: nothing should carry over a
cut, and one cut pair would otherwise outweigh the rest of the clip.

Flow for the metric: OpenCV DIS (Kroeger et al. 2016), ``cv2.DISOpticalFlow_create(
DISOPTICAL_FLOW_PRESET_MEDIUM)`` (patch 12, stride 3, variational refinement) on BT.601 grey
frames at the benchmark size (``--size``, longest side), one backward and one forward flow per
pair, bilinear ``cv2.remap`` with replicated borders. The same flows and masks serve every row.

Smoothing may not win by washing the style out, so every row also reports the VGG16 style loss
of its outputs to the painting (Johnson et al. 2016: sum over relu1_2, relu2_2, relu3_3,
relu4_3 of the MSE between Gram matrices normalised by C*H*W, with the style file's training
layer weights; the painting resized as in training), averaged over evenly spaced frames, and
the mean absolute difference to the per-frame output.

Rows: ``per-frame``; ``ema-0.5`` and ``ema-0.8``, ``out = a * out_prev + (1 - a) * stylized``
(the exponential blend other tools call ``--smooth``); ``fstvideo``, :class:`~fstvideo.temporal.Smoother`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .report import save_atomic

from ..errors import FstError, MediaError, OptionsError
from ..flow import FlowEstimator, consistent, fit_size, flows, gray, resize, thumb_change, thumbnail, warp
from ..temporal import SmoothOptions

EMA_WEIGHTS = (0.5, 0.8)
# Scene cuts: the smoother's own defaults (32 px thumbnails, forward-backward pass rate).
CUT_THRESHOLD = SmoothOptions.cut_threshold
MIN_RELIABLE = SmoothOptions.min_reliable


# -- the metric ---------------------------------------------------------------------------------
def flow_pairs(frames: list[np.ndarray], preset: str = "medium", cut_threshold: float = CUT_THRESHOLD,
               min_reliable: float = MIN_RELIABLE) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each consecutive pair of input frames: (HxWx2 backward flow t -> t-1, HxW bool mask
    of reliable pixels of frame t). ``len(frames) - 1`` entries. A pair across a scene cut
    (thumbnails differ by more than ``cut_threshold``, or under ``min_reliable`` of the pixels
    pass the forward-backward test) gets an empty mask: nothing carries over a cut, and the
    metric skips it."""
    estimate = FlowEstimator(preset)
    greys = [gray(f) for f in frames]
    thumbs = [thumbnail(g) for g in greys]
    out = []
    for t in range(1, len(frames)):
        back, fwd = flows(estimate, greys[t - 1], greys[t])
        mask = consistent(back, fwd)
        if thumb_change(thumbs[t - 1], thumbs[t]) > cut_threshold or mask.mean() < min_reliable:
            mask = np.zeros_like(mask)
        out.append((back, mask))
    return out


def warping_error(outputs: list[np.ndarray], pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """E_warp (Lai et al. 2018): mean over pairs of the masked MSE between output t and output
    t-1 warped onto t; frames HxWx3 uint8, scaled to [0,1]. Pairs with no reliable pixel are
    skipped; 0.0 when none is left."""
    errors = []
    for t, (back, mask) in enumerate(pairs, start=1):
        n = int(mask.sum())
        if n == 0:
            continue
        prev = warp(outputs[t - 1], back).astype(np.float32)
        diff = (prev - outputs[t].astype(np.float32)) * (1.0 / 255.0)
        errors.append(float((diff[mask] ** 2).sum()) / (3 * n))
    return float(np.mean(errors)) if errors else 0.0


def ema(stylized: list[np.ndarray], weight: float) -> list[np.ndarray]:
    """Exponential blending with the previous output: ``out = w * out_prev + (1 - w) * stylized``."""
    out, state = [], None
    for s in stylized:
        state = s.astype(np.float32) if state is None else weight * state + (1 - weight) * s
        out.append(np.clip(state + 0.5, 0, 255).astype(np.uint8))
    return out


def mean_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean absolute difference of two equally long frame lists, in [0,1] units."""
    return float(np.mean([np.abs(x.astype(np.float32) - y).mean() for x, y in zip(a, b)]) / 255.0)


# -- style retention -----------------------------------------------------------------------------
def find_painting(style, explicit: str | None = None) -> Path | None:
    """The painting a style was trained on: ``explicit``, else the path in its training config,
    else its credited file name beside the style file, in the working folder, or in a
    ``shared/styles`` folder above either."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise OptionsError(f"painting not found: {p}")
        return p
    meta = style.meta or {}
    config = (meta.get("training") or {}).get("config") or {}
    names = [Path(s) for s in config.get("styles") or []][:1]
    names += [Path(c["file"]) for c in (meta.get("credit") or [])[:1] if isinstance(c, dict) and c.get("file")]
    roots = [Path(style.path).resolve().parent] if style.path else []
    roots.append(Path.cwd())
    for name in names:
        if name.is_absolute():
            if name.is_file():
                return name
            name = Path(name.name)
        for root in roots:
            for base in [root, *list(root.parents)[:3]]:
                for cand in (base / name, base / "shared" / "styles" / name.name):
                    if cand.is_file():
                        return cand
    return None


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
    frames = []
    with open_media(path) as source:
        for frame, _ in source:
            if max_frames and len(frames) >= max_frames:
                break
            frames.append(resize(frame, fit_size(*frame.shape[:2], size)) if size else frame)
    if len(frames) < 2:
        raise MediaError(f"{path}: a temporal benchmark needs at least 2 frames, got {len(frames)}")
    return frames


def evaluate(frames: list[np.ndarray], stylized: list[np.ndarray], smoother=None,
             meter: StyleMeter | None = None, style_frames: int = 12, preset: str = "medium") -> dict:
    """Rows for per-frame, EMA and (if given) the smoother on an already stylized clip."""
    pairs = flow_pairs(frames, preset)
    k = min(style_frames, len(frames) - 1)
    picks = sorted({round(i) for i in np.linspace(1, len(frames) - 1, k)}) if k > 0 else []
    methods = [("per-frame", lambda: stylized)]
    methods += [(f"ema-{w}", lambda w=w: ema(stylized, w)) for w in EMA_WEIGHTS]
    if smoother is not None:
        def run():
            smoother.reset()
            return [smoother(f, s) for f, s in zip(frames, stylized)]
        methods.append(("fstvideo", run))
    rows, base_style = [], None
    for name, make in methods:
        t0 = time.perf_counter()
        outs = make()
        ms = (time.perf_counter() - t0) * 1000 / len(frames)
        style = meter([outs[i] for i in picks]) if meter is not None else None
        base_style = style if name == "per-frame" else base_style
        row = {"method": name, "e_warp": warping_error(outs, pairs), "style_loss": style,
               "diff_to_per_frame": mean_abs_diff(outs, stylized)}
        row["style_vs_per_frame"] = style / base_style if style is not None and base_style else None
        row["ms_per_frame"] = round(ms, 2) if name != "per-frame" else 0.0
        rows.append(row)
    return {"frames": len(frames), "size": list(frames[0].shape[:2]),
            "input_e_warp": warping_error(frames, pairs),
            "reliable_fraction": float(np.mean([m.mean() for _, m in pairs])),
            "cuts": [t for t, (_, m) in enumerate(pairs, start=1) if not m.any()],
            "flow": {"method": "OpenCV DIS", "preset": preset, "on": "input frames, BT.601 grey"},
            "style_frames": picks, "rows": rows}


def format_table(result: dict) -> str:
    def num(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)
    h, w = result["size"]
    lines = [f"temporal stability: {result['clip']} ({result['frames']} frames at {w}x{h}, "
             f"style {result.get('style', '?')})",
             f"E_warp of the input itself: {result['input_e_warp']:.6f}; reliable pixels "
             f"{100 * result['reliable_fraction']:.1f}%; scene cuts skipped before frames {result['cuts'] or 'none'}",
             f"{'method':<12}{'E_warp':>11}{'vs per-frame':>14}{'style loss':>13}{'vs per-frame':>14}"
             f"{'|out-perframe|':>16}{'ms/frame':>10}"]
    base = result["rows"][0]["e_warp"] or float("nan")
    for r in result["rows"]:
        lines.append(f"{r['method']:<12}{r['e_warp']:>11.6f}{r['e_warp'] / base:>13.2f}x"
                     f"{num(r['style_loss'], '13.4e')}{num(r['style_vs_per_frame'], '13.3f')}x"
                     f"{r['diff_to_per_frame']:>16.4f}{r['ms_per_frame']:>10.1f}")
    if result.get("note"):
        lines.append(result["note"])
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from ..styles import DEFAULT_STYLE, load_style
    from ..stylizer import Stylizer, StylizerOptions
    from ..temporal import Smoother
    if args.size is not None and args.size < 16:
        raise OptionsError(f"--size must be at least 16 px, got {args.size}")
    style = load_style(args.style or DEFAULT_STYLE)
    smoother = Smoother(SmoothOptions(strength=args.smooth))
    frames = read_clip(args.clip, args.size, args.max_frames)
    stylizer = Stylizer(style, StylizerOptions(device=args.device))
    stylized = [stylizer(f) for f in frames]
    meter = StyleMeter(style, args.painting)
    result = {"clip": str(args.clip), "style": style.name, "smooth": args.smooth,
              **evaluate(frames, stylized, smoother, meter, args.style_frames)}
    if meter.vgg is not None:
        result["painting"] = str(meter.painting)
    if meter.note:
        result["note"] = meter.note
    table = format_table(result)
    save = Path(args.save) if args.save else Path("runs") / "bench" / f"temporal-{Path(args.clip).stem}.txt"
    save_atomic(save, lambda p: p.write_text(table, encoding="utf-8"))
    if args.json:
        print(table, end="", file=sys.stderr)
        print(json.dumps(result, indent=1))
    else:
        print(table, end="")
    print(f"saved {save}", file=sys.stderr)
    return 0


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("temporal", help="flicker (warping error) and style retention "
                                                     "of per-frame, EMA and flow-guided smoothing")
    p.add_argument("clip", help="video or GIF to stylize")
    p.add_argument("--style", default=None, help="style name or .safetensors path (default: starry_night)")
    p.add_argument("--painting", default=None, help="painting for the style loss (default: from the style file)")
    p.add_argument("--size", type=int, default=360, help="longest side of the frames, px (default: %(default)s)")
    p.add_argument("--max-frames", type=int, default=60, help="frames read from the clip (default: %(default)s)")
    p.add_argument("--smooth", type=float, default=0.8, help="fstvideo smoothing strength (default: %(default)s)")
    p.add_argument("--style-frames", type=int, default=12,
                   help="evenly spaced frames scored with VGG16 per row (default: %(default)s)")
    p.add_argument("--device", default="auto", help="device of the stylizer: auto, cpu, cuda")
    p.add_argument("--json", action="store_true", help="print JSON on stdout (table on stderr)")
    p.add_argument("--save", default=None, help="table file (default: runs/bench/temporal-<clip>.txt)")
    p.set_defaults(func=run)
