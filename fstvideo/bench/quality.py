"""``fstvideo bench quality``: VGG16 style and content losses (the training definitions and
weights) of a feed-forward style's output versus the Gatys et al. 2015 optimisation result for
the same photo and painting. Lower is better; Gatys is the reference the net approximates.

Weighted losses use the style file's own weights, so they compare runs of one style file; the
``style/photo`` column (style loss of the image / style loss of the unstylized photo) compares
files trained with different weights (e.g. a multi-style model against single-style ones).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fstvideo.bench.report import save_table
from fstvideo.errors import OptionsError, StyleError


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("quality", help="style/content losses: feed-forward vs Gatys optimisation")
    p.add_argument("photo")
    p.add_argument("--style", required=True, help="style name or style file")
    p.add_argument("--slot", help="which style of a multi-style file (default: its first)")
    p.add_argument("--painting", help="painting image (default: from the style file's training config)")
    p.add_argument("--size", type=int, default=256, help="photo's longest side, px")
    p.add_argument("--scale", type=float, default=None, metavar="S",
                   help="run the net at S x the photo's size, guided upsampling back (what convert --fast "
                        "does; default: the scale a distilled file was trained for, else 1)")
    p.add_argument("--iterations", type=int, default=100, help="L-BFGS evaluations for Gatys (0: skip Gatys)")
    p.add_argument("--save", help="table file (default runs/bench/quality-<style>.txt)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_quality)


def painting_of(style, slot: str | None = None) -> str:
    """The training painting of ``slot``: the path whose file stem is the slot's name, else the
    first existing one (single-style files)."""
    cfg = (style.meta.get("training") or {}).get("config") or {}
    slot = slot or style.styles[0]
    listed = list(cfg.get("styles") or [])
    names = list(cfg.get("style_names") or [])
    paths = [p for p in listed if Path(p).is_file()]
    named = [p for p in paths if Path(p).stem == slot]
    if not named and slot in names and names.index(slot) < len(listed) and Path(listed[names.index(slot)]).is_file():
        named = [listed[names.index(slot)]]
    if named or paths:
        return (named or paths)[0]
    raise StyleError(f"style '{style.name}' does not name an existing painting; pass --painting PATH")


def slot_style_weight(style, slot: str) -> float:
    """The style weight that slot was trained with: per-painting ``style_weights`` (style_balance
    runs, indexed like the training config's style_names) else the config's ``style_weight``."""
    tr = style.meta.get("training") or {}
    cfg = tr.get("config") or {}
    names, weights = list(cfg.get("style_names") or []), tr.get("style_weights")
    if weights and slot in names and names.index(slot) < len(weights):
        return float(weights[names.index(slot)])
    return float(cfg.get("style_weight", 5e3))


def at_scale(net, scale: float):
    """``photo -> stylized`` at ``scale`` x the photo's size (antialiased downscale, the net, guided
    upsampling back), as the Stylizer runs ``convert --fast``; 1: the net at full size."""
    from fstvideo.guided import downscale, guided_upsample
    if scale >= 1.0:
        return net

    def run(photo: torch.Tensor) -> torch.Tensor:
        small = downscale(photo, scale, getattr(net, "multiple", 4))
        return guided_upsample(net(small).clamp(0, 1), small, photo)
    return run


def measure(photo: torch.Tensor, painting: torch.Tensor, net, training: dict, iterations: int) -> dict:
    """Weighted content/style/tv losses of net(photo) and of the Gatys result, plus timings."""
    from fstvideo.train import losses
    from fstvideo.train.gatys import GatysConfig, stylize
    from fstvideo.train.vgg import VGGFeatures
    cw = float(training.get("content_weight", 1.0))
    sw = float(training.get("style_weight", 5e3))
    tw = float(training.get("tv_weight", 10.0))
    layers = dict(training.get("style_layers") or [(n, 1.0) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")])
    content_layer = training.get("content_layer", "relu2_2")
    vgg = VGGFeatures(tuple(layers) + (content_layer,))
    with torch.no_grad():
        fs = vgg(painting)
        grams = {k: losses.gram(fs[k]) for k in layers}
        fx = vgg(photo)[content_layer]

    def score(img: torch.Tensor) -> dict:
        with torch.no_grad():
            f = vgg(img)
            return {"content": cw * float(losses.content_loss(f[content_layer], fx)),
                    "style": sw * float(losses.style_loss(f, grams, layers)),
                    "tv": tw * float(losses.total_variation(img))}

    rows = {"photo (no stylization)": score(photo)}
    t = time.perf_counter()
    with torch.no_grad():
        y = net(photo).clamp(0, 1)
    rows["feed-forward"] = {**score(y), "seconds": time.perf_counter() - t}
    if iterations <= 0:
        return _relative(rows)
    t = time.perf_counter()
    g = stylize(photo, painting, GatysConfig(iterations=iterations, content_weight=cw, style_weight=sw,
                                             tv_weight=tw), vgg=vgg)
    rows[f"gatys (L-BFGS {iterations})"] = {**score(g), "seconds": time.perf_counter() - t}
    return _relative(rows)


def _relative(rows: dict) -> dict:
    ref = rows["photo (no stylization)"]["style"]
    return {k: {**r, "style_vs_photo": r["style"] / ref if ref > 0 else float("nan")} for k, r in rows.items()}


def run_quality(a: argparse.Namespace) -> int:
    from fstvideo.styles import load_style, trained_scale
    from fstvideo.train.data import load_painting
    if a.size < 16 or a.iterations < 0:
        raise OptionsError("--size must be >= 16 and --iterations >= 0")
    style = load_style(a.style)
    slot = a.slot or style.styles[0]
    if slot not in style.styles or slot == "photo":
        raise OptionsError(f"unknown or content-only slot '{slot}' (styles: "
                           f"{', '.join(s for s in style.styles if s != 'photo')})")
    training = dict((style.meta.get("training") or {}).get("config") or {})
    training["style_weight"] = slot_style_weight(style, slot)
    painting = load_painting(a.painting or painting_of(style, slot), int(training.get("style_size", 256)))
    photo = load_painting(a.photo, a.size)
    net = style.build("cpu")
    m = net.multiple  # 4, or 8 for the fast net: crop instead of padding (padding would be scored)
    h, w = photo.shape[2] // m * m, photo.shape[3] // m * m
    photo = photo[:, :, :h, :w]
    net.set_mix(torch.nn.functional.one_hot(torch.tensor(style.styles.index(slot)), len(style.styles)).float())
    scale = a.scale if a.scale is not None else trained_scale(style)
    if not 0 < scale <= 1:
        raise OptionsError(f"--scale must be in (0, 1] (got {scale})")
    rows = measure(photo, painting, at_scale(net, scale), training, a.iterations)
    if a.json:
        text = json.dumps({"style": style.name, "slot": slot, "photo": str(a.photo), "size": [w, h], "scale": scale,
                           "style_weight": training["style_weight"], "rows": rows}, indent=1)
    else:
        lines = [f"quality: style {style.name} [{slot}], photo {a.photo} ({w}x{h}, net at x{scale:g}); weighted VGG16 losses "
                 f"(style weight {training['style_weight']:.4g}), lower is better",
                 f"{'':28s} {'content':>10s} {'style':>10s} {'tv':>8s} {'style/photo':>11s} {'seconds':>8s}"]
        for k, r in rows.items():
            lines.append(f"{k:28s} {r['content']:10.3f} {r['style']:10.3f} {r['tv']:8.3f} "
                         f"{r['style_vs_photo']:11.3f} {r.get('seconds', float('nan')):8.2f}")
        text = "\n".join(lines)
    print(text)
    tag = style.name if slot == style.styles[0] else f"{style.name}-{slot}"
    save = Path(a.save or Path("runs") / "bench" / f"quality-{tag}.txt")
    save_table(save, text)
    return 0
