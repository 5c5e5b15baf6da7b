"""``fstvideo bench quality``: how a style paints photos it was not trained on, per photo:

- style/photo: VGG16 Gram loss to the painting (Johnson's four layers, unit weights) relative to
  the unstylized photo's own; Gram matrices are dominated by colour, so a tint lowers it;
- texture: the same loss on grey images at relu2_2/3_3/4_3, which no tint can lower;
- content: relu2_2 feature MSE to the photo (Johnson et al. 2016's content loss);
- lattice, blob and droplets (``fstvideo.bench.measures``): a grid locked to the pixels, a colour blob
  over flat areas, flat fills of paint the photo does not explain — failures the training loss
  does not see.

The image scored is what ``fstvideo convert`` shows (the Stylizer with its defaults), next to
the same photo stylized by another tool (``--reference``) and optionally Gatys et al. 2015.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fstvideo.bench.report import save_table
from fstvideo.errors import OptionsError
from fstvideo.stylemeta import PHOTO_SLOT, painting_of, slot_style_weight, training_config


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser("quality", help="style, texture, content, lattice and blob scores of a style "
                                                  "on photos (optionally against another tool's outputs)")
    p.add_argument("photos", nargs="+", help="photos to score; use ones the style was not trained on")
    p.add_argument("--style", required=True, help="style name or style file")
    p.add_argument("--slot", help="which style of a multi-style file (default: its first)")
    p.add_argument("--painting", help="painting image (default: from the style file's training config)")
    p.add_argument("--size", type=int, default=512, help="photos' longest side, px")
    p.add_argument("--painting-size", type=int, default=512, help="painting's longest side for the Gram targets, px")
    p.add_argument("--reference", metavar="DIR",
                   help="another tool's outputs for the same photos (DIR/<photo stem>.png or "
                        "DIR/<photo stem>-<slot>.png), scored the same way and compared")
    p.add_argument("--stroke", type=float, default=None, help="brush size passed to the stylizer (as convert)")
    p.add_argument("--iterations", type=int, default=0, help="also score Gatys L-BFGS with this many evaluations")
    p.add_argument("--save", help="table file (default runs/bench/quality-<style>.txt)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_quality)


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


STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # Johnson et al. 2016, unit weights


class Scorer:
    """Scores images of one photo against one painting; every loss has unit layer weights, so
    files trained with different weights (and other tools) compare."""

    def __init__(self, painting: torch.Tensor):
        from fstvideo.bench import measures as M
        from fstvideo.train import losses
        from fstvideo.train.vgg import VGGFeatures
        self.M, self.losses = M, losses
        self.vgg = VGGFeatures(STYLE_LAYERS)
        with torch.no_grad():
            self.grams = {k: losses.gram(v) for k, v in self.vgg(painting).items()}
            self.grey_grams = {k: losses.gram(v) for k, v in self.vgg(M.grey(painting)).items()}

    @torch.no_grad()
    def __call__(self, img: torch.Tensor, photo: torch.Tensor) -> dict:
        """``img``, ``photo``: 1x3xHxW in [0,1], same size -> the scores of ``img``."""
        M = self.M
        f, fp = self.vgg(img), self.vgg(photo)
        style = M.gram_loss(f, self.grams, STYLE_LAYERS)
        return {"style": style, "style_vs_photo": style / M.gram_loss(fp, self.grams, STYLE_LAYERS),
                "texture": M.gram_loss(self.vgg(M.grey(img)), self.grey_grams, M.TEXTURE_LAYERS),
                "content": float(self.losses.content_loss(f["relu2_2"], fp["relu2_2"])),
                "lattice": M.lattice_score(img), "blob": M.blob_score(img, photo),
                "droplets": M.droplet_score(img, photo)}


def _tensor(a) -> torch.Tensor:
    import numpy as np
    return torch.from_numpy(np.asarray(a, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


def _reference(folder: Path, stem: str, slot: str, size: tuple[int, int]):
    from PIL import Image
    for name in (f"{stem}-{slot}.png", f"{stem}.png", f"{stem}-{slot}.jpg", f"{stem}.jpg"):
        if (folder / name).is_file():
            with Image.open(folder / name) as im:
                return _tensor(im.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    return None


def run_quality(a: argparse.Namespace) -> int:
    from dataclasses import replace

    from fstvideo.styles import load_style
    from fstvideo.stylizer import Stylizer, StylizerOptions
    from fstvideo.train.data import load_painting
    if a.size < 16 or a.iterations < 0 or a.painting_size < 16:
        raise OptionsError("--size and --painting-size must be >= 16 and --iterations >= 0")
    style = load_style(a.style)
    slot = a.slot or style.styles[0]
    if slot not in style.styles or slot == PHOTO_SLOT:
        raise OptionsError(f"unknown or content-only slot '{slot}' (styles: "
                           f"{', '.join(s for s in style.styles if s != PHOTO_SLOT)})")
    painting = load_painting(a.painting or painting_of(style, slot), a.painting_size)
    options = StylizerOptions(device="cpu", blend=((slot, 1.0),) if len(style.styles) > 1 else ())
    if a.stroke is not None:
        options = replace(options, stroke=a.stroke)
    stylizer = Stylizer(style, options)
    scorer = Scorer(painting)
    ref_dir = Path(a.reference) if a.reference else None
    rows = []
    for path in a.photos:
        photo = load_painting(path, a.size)  # longest side a.size (Lanczos)
        frame = (photo[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
        x = _tensor(frame)
        t = time.perf_counter()
        y = _tensor(stylizer(frame))
        seconds = time.perf_counter() - t
        stem = Path(path).stem
        row = {"photo": stem, "size": [frame.shape[1], frame.shape[0]], "ours": {**scorer(y, x), "seconds": seconds},
               "unstylized": scorer(x, x)}
        if ref_dir is not None:
            ref = _reference(ref_dir, stem, slot, (frame.shape[1], frame.shape[0]))
            if ref is None:
                raise OptionsError(f"--reference {ref_dir}: no {stem}.png or {stem}-{slot}.png")
            row["reference"] = scorer(ref, x)
        if a.iterations:
            from fstvideo.train.gatys import GatysConfig, stylize
            tv_weight = float(training_config(style).get("tv_weight", 1.0))
            g = stylize(x, painting, GatysConfig(iterations=a.iterations, style_weight=slot_style_weight(style, slot),
                                                 tv_weight=tv_weight))
            row["gatys"] = scorer(g, x)
        rows.append(row)
    result = {"style": style.name, "slot": slot, "rows": rows}
    text = json.dumps(result, indent=1) if a.json else _table(style.name, slot, rows)
    print(text)
    tag = style.name if slot == style.styles[0] else f"{style.name}-{slot}"
    save_table(Path(a.save or Path("runs") / "bench" / f"quality-{tag}.txt"), text)
    return 0


def _table(name: str, slot: str, rows: list[dict]) -> str:
    lines = [f"quality: {name} [{slot}]; lower is better. style/photo: VGG16 Gram loss to the painting relative to "
             "the photo's own; texture: the same on grey images (relu2_2-4_3); content: relu2_2 MSE to the photo; "
             "lattice: grid locked to 2/4/8 px (>= 0.03 visible); blob: colour change over flat areas, levels; "
             "drops: % of the frame under flat fills the photo does not explain",
             f"{'photo':14s} {'image':11s} {'style/photo':>11s} {'texture':>9s} {'content':>8s} {'lattice':>8s} "
             f"{'blob':>6s} {'drops':>6s}"]
    for r in rows:
        for who in ("unstylized", "ours", "reference", "gatys"):
            if who in r:
                s = r[who]
                lines.append(f"{r['photo'][:14]:14s} {who:11s} {s['style_vs_photo']:11.3f} {s['texture']:9.3e} "
                             f"{s['content']:8.3f} {s['lattice']:8.3f} {s['blob']:6.2f} {s['droplets']:6.2f}")
    if rows and "reference" in rows[0]:
        lines.append("ours / reference:  style, texture, content")
        for r in rows:
            o, p = r["ours"], r["reference"]
            lines.append(f"{r['photo'][:14]:14s} {o['style'] / p['style']:8.2f} {o['texture'] / p['texture']:8.2f} "
                         f"{o['content'] / p['content']:8.2f}")
    return "\n".join(lines)
