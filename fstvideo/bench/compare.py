"""``fstvideo bench compare``: a style file (e.g. a distilled ``<name>_fast``) against a reference
(the full model it was distilled from) on the same photos, scored with the reference's own
training losses: Johnson et al. 2016's relu2_2 content loss against the photo and Gram style loss
against its painting (VGG16), with the reference's weights. Totals over the photos give one
percentage per loss ("content +4%": the candidate's summed content loss is 4% above the
reference's), with the energy of a lattice locked to the pixel grid beside them. Those losses are
what a fast style was distilled with, so they also get ``bench quality``'s lattice and blob scores
(``fstvideo.bench.measures``), which no net was trained on; their totals are the worst photo's,
since a grid or a blob on one photo is a failure that the other photos do not excuse.

``--sheet`` writes photo | reference | candidate rows to look at: the numbers alone reward a
periodic pattern that matches the Gram statistics without looking like the painting. The sheet's
tiles are downscaled, which averages a 2-8 px grid away, so ``--crops`` writes 100% crops (no
resampling) of the same three images at two places per photo: the photo's flattest window (a sky,
a wall: where a grid or a blob shows) and the centre.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fstvideo.bench import measures
from fstvideo.bench.quality import at_scale
from fstvideo.bench.report import save_atomic, save_table
from fstvideo.errors import OptionsError
from fstvideo.frames import LUMA_WEIGHTS
from fstvideo.stylemeta import PHOTO_SLOT, painting_of, slot_style_weight, trained_scale, training_config


def photo_paths(items: list[str]) -> list[Path]:
    """Files as given and the photos inside folders (``train.data.find_images``: recursive, sorted);
    OptionsError if a file is missing."""
    from fstvideo.train.data import find_images
    out: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            out += find_images(p)
        elif p.is_file():
            out.append(p)
        else:
            raise OptionsError(f"photo not found: {p}")
    return out


def reference_of(style) -> str:
    """The default reference: the style a ``<name>_fast`` file was distilled from (its name)."""
    if style.name.endswith("_fast"):
        return style.name[: -len("_fast")]
    raise OptionsError(f"style '{style.name}' is not a <name>_fast file: pass --reference STYLE")


def _net(style, slot: str):
    net = style.build("cpu")
    net.set_mix(torch.nn.functional.one_hot(torch.tensor(style.styles.index(slot)), len(style.styles)).float())
    return at_scale(net, trained_scale(style)), net.multiple


def compare(candidate, reference, slot: str, photos: list[Path], size: int, vgg_weights: str | None = None) -> dict:
    """Per-photo and total weighted content/style losses of both styles' outputs (the reference's
    definitions and weights) and the outputs themselves (HxWx3 uint8, for a sheet)."""
    from fstvideo.train import losses
    from fstvideo.train.data import load_painting
    from fstvideo.train.vgg import VGGFeatures
    cfg = training_config(reference)
    cw, sw = float(cfg.get("content_weight", 1.0)), slot_style_weight(reference, slot)
    layers = dict(cfg.get("style_layers") or [(n, 1.0) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")])
    content_layer = cfg.get("content_layer", "relu2_2")
    vgg = VGGFeatures(tuple(layers) + (content_layer,), weights_path=vgg_weights)
    painting = load_painting(painting_of(reference, slot), int(cfg.get("style_size", 256)))
    nets = {"reference": _net(reference, slot), "candidate": _net(candidate, slot)}
    m = int(np.lcm(nets["reference"][1], nets["candidate"][1]))  # crop (not pad) so both see the same pixels
    rows, images = [], []
    with torch.no_grad():
        grams = {k: losses.gram(v) for k, v in vgg(painting).items() if k in layers}
        for path in photos:
            photo = load_painting(path, size)
            photo = photo[:, :, : photo.shape[2] // m * m, : photo.shape[3] // m * m]
            target = vgg(photo)[content_layer]
            row: dict[str, Any] = {"photo": path.name}
            outs = [photo]
            for key, (net, _) in nets.items():
                y = net(photo).clamp(0, 1)
                f = vgg(y)
                row[key] = {"content": cw * float(losses.content_loss(f[content_layer], target)),
                            "style": sw * float(losses.style_loss(f, grams, layers)),
                            "grid": float(losses.grid_pattern(y, m)) * 255 ** 2,  # lattice energy, levels^2
                            # as bench quality scores them: 1x3xHxW in [0, 1], the photo at the same size
                            "lattice": measures.lattice_score(y), "blob": measures.blob_score(y, photo)}
                outs.append(y)
            rows.append(row)
            images.append([(o[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for o in outs])
    total = {key: {**{loss: sum(r[key][loss] for r in rows) for loss in ("content", "style", "grid")},
                   **{k: _worst(r[key][k] for r in rows) for k in ("lattice", "blob")}} for key in nets}
    change = {loss: 100 * (total["candidate"][loss] / total["reference"][loss] - 1) for loss in ("content", "style")}
    return {"candidate": candidate.name, "reference": reference.name, "slot": slot, "size": size,
            "content_weight": cw, "style_weight": sw, "rows": rows, "total": total, "change_pct": change,
            "images": images}


def _worst(values) -> float:
    """The largest value, skipping NaN (blob_score's "no flat region"); NaN if all are."""
    v = [x for x in values if not np.isnan(x)]
    return max(v) if v else float("nan")


def sheet(images: list[list[np.ndarray]], height: int = 256) -> np.ndarray:
    """One row per photo (photo | reference | candidate), each scaled to ``height`` px; HxWx3 uint8."""
    from PIL import Image
    rows = []
    for trio in images:
        tiles = [np.asarray(Image.fromarray(t).resize((round(t.shape[1] * height / t.shape[0]), height),
                                                      Image.Resampling.LANCZOS)) for t in trio]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)


GAP = 4  # px of white between a sheet's crops, so that no crop's edge reads as part of a pattern


def crop_places(photo: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of two ``size`` px windows of the ``HxWx3`` ``photo`` (clipped to
    its sides): the one where its luma has the lowest std (flat areas are where a grid shows) and
    the centre."""
    g = photo.astype(np.float64) @ np.asarray(LUMA_WEIGHTS, np.float64)
    h, w = min(size, g.shape[0]), min(size, g.shape[1])
    # the variance of every h x w window at once, from integral images of the values and their squares
    s1, s2 = (np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0))) for a in (g, g * g))

    def box(s: np.ndarray) -> np.ndarray:
        return s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]
    n = h * w
    var = box(s2) / n - (box(s1) / n) ** 2
    flat = np.unravel_index(int(np.argmin(var)), var.shape)
    return [(int(flat[0]), int(flat[1])), ((g.shape[0] - h) // 2, (g.shape[1] - w) // 2)]


def crop_sheet(images: list[list[np.ndarray]], size: int = 160) -> np.ndarray:
    """One row per photo: photo | reference | candidate cropped at its flattest ``size`` px window,
    then the same three at the centre (``crop_places`` of the photo); every pixel as the
    nets painted it, at 100% (a grid of 2-8 px is averaged away in a downscaled tile). ``GAP``
    px white between crops; HxWx3 uint8."""
    rows = []
    for trio in images:
        h, w = min(size, trio[0].shape[0]), min(size, trio[0].shape[1])
        tiles = []
        for y, x in crop_places(trio[0], size):
            for t in trio:
                tiles += [t[y:y + h, x:x + w], np.full((h, GAP, 3), 255, np.uint8)]
        rows += [np.concatenate(tiles[:-1], axis=1), np.full((GAP, 1, 3), 255, np.uint8)]
    rows = rows[:-1]
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                           for r in rows], axis=0)


def table(result: dict) -> str:
    lines = [f"compare: {result['candidate']} vs {result['reference']} [{result['slot']}], photos at "
             f"{result['size']} px; {result['reference']}'s weighted VGG16 losses (style weight "
             f"{result['style_weight']:.4g}), lower is better",
             f"{'photo':28s} {'content ref':>12s} {'content':>10s} {'style ref':>10s} {'style':>10s} "
             f"{'grid ref':>9s} {'grid':>9s} {'lattice ref':>11s} {'lattice':>8s} {'blob ref':>8s} {'blob':>6s}"]
    for r in result["rows"] + [{"photo": "total", **result["total"]}]:
        ref, cand = r["reference"], r["candidate"]
        lines.append(f"{r['photo'][:28]:28s} {ref['content']:12.3f} {cand['content']:10.3f} {ref['style']:10.3f} "
                     f"{cand['style']:10.3f} {ref['grid']:9.1f} {cand['grid']:9.1f} {ref['lattice']:11.3f} "
                     f"{cand['lattice']:8.3f} {ref['blob']:8.2f} {cand['blob']:6.2f}")
    c = result["change_pct"]
    lines.append(f"candidate vs reference: content {c['content']:+.1f}%, style {c['style']:+.1f}%")
    lines.append("grid: energy of a pattern locked to the nets' pixel grid (train.losses.grid_pattern), squared levels")
    lines.append("lattice: 1 - D(p)/mean(D(p-1), D(p+1)), largest over periods p = 2/4/8 px, D(s): mean |high-passed "
                 "luma - itself shifted s px|; <= 0 for natural images, >= 0.03 a grid visible at 100%")
    lines.append("blob: colour change over the photo's flat areas in 32 px cells, 8-bit levels (about 0-1 clean, "
                 "several with a blob; nan: no flat area); totals of lattice and blob: the worst photo")
    return "\n".join(lines)


def run_compare(a: argparse.Namespace) -> int:
    from fstvideo.styles import load_style
    if a.size < 16 or a.crop_size < 16:
        raise OptionsError("--size and --crop-size must be >= 16")
    candidate = load_style(a.style)
    reference = load_style(a.reference or reference_of(candidate))
    slot = a.slot or reference.styles[0]
    if slot == PHOTO_SLOT or slot not in reference.styles or slot not in candidate.styles:
        raise OptionsError(f"slot '{slot}' must be a style of both {candidate.name} "
                           f"({', '.join(candidate.styles)}) and {reference.name} ({', '.join(reference.styles)})")
    result = compare(candidate, reference, slot, photo_paths(a.photos), a.size, a.vgg_weights)
    images = result.pop("images")
    text = json.dumps(result) if a.json else table(result)
    print(text)
    save = Path(a.save or Path("runs") / "bench" / f"compare-{candidate.name}.txt")
    save_table(save, text)
    if a.sheet:
        from PIL import Image
        # the image format follows the suffix
        save_atomic(Path(a.sheet), lambda p: Image.fromarray(sheet(images)).save(p, quality=90))
    if a.crops:
        from PIL import Image
        save_atomic(Path(a.crops), lambda p: Image.fromarray(crop_sheet(images, a.crop_size)).save(p, quality=95))
    return 0


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("compare", help="a (fast) style vs its full model on photos: losses, lattice, blob")
    p.add_argument("photos", nargs="+", help="photos or folders of photos")
    p.add_argument("--style", required=True, help="candidate style name or file (e.g. starry_night_fast)")
    p.add_argument("--reference", help="reference style (default: the candidate's name without _fast)")
    p.add_argument("--slot", help="which style of the files (default: the reference's first)")
    p.add_argument("--size", type=int, default=384, help="photos' longest side, px")
    p.add_argument("--sheet", help="also write photo | reference | candidate rows to this JPEG")
    p.add_argument("--crops", metavar="PATH",
                   help="also write 100%% crops (photo | reference | candidate at the photo's flattest window "
                        "and the centre) to this image: a 2-8 px grid is invisible in --sheet's downscaled "
                        "tiles; use .png (JPEG's 8 px blocks blur a fine grid)")
    p.add_argument("--crop-size", type=int, default=160, help="side of each --crops crop, px (>= 16)")
    p.add_argument("--vgg-weights", default=None, metavar="PATH",
                   help="VGG16 weights file (default: found as for training)")
    p.add_argument("--save", help="table file (default runs/bench/compare-<style>.txt)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_compare)
