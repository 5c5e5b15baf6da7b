"""Build docs/preview.jpg: one photo in every bundled style next to thumbnails of the paintings.
``python -m fstvideo.train.preview [PHOTO] [-o docs/preview.jpg]``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from fstvideo.styles import load_style

from .bundled import BUNDLED, SHARED
from .data import load_painting


def tile(t: torch.Tensor) -> Image.Image:
    return Image.fromarray((t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8"))


def build(photo: Path, out: Path, size: int = 320, names=BUNDLED) -> Path:
    x = load_painting(photo, size)
    h, w = x.shape[2] // 4 * 4, x.shape[3] // 4 * 4
    x = x[:, :, :h, :w]
    cells = [("photo", tile(x), None)]
    for n in names:
        style = load_style(n)
        with torch.no_grad():
            y = style.build()(x)
        thumb = Image.open(SHARED / "styles" / f"{n}.jpg").convert("RGB")
        thumb.thumbnail((w // 3, h // 3))
        cells.append((n, tile(y), thumb))
    cols = 3
    rows = (len(cells) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * (h + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, img, thumb) in enumerate(cells):
        x0, y0 = (i % cols) * w, (i // cols) * (h + 18)
        sheet.paste(img, (x0, y0))
        if thumb is not None:  # painting thumbnail in the corner, with a white frame
            sheet.paste(Image.new("RGB", (thumb.width + 4, thumb.height + 4), "white"),
                        (x0 + w - thumb.width - 6, y0 + h - thumb.height - 6))
            sheet.paste(thumb, (x0 + w - thumb.width - 4, y0 + h - thumb.height - 4))
        draw.text((x0 + 4, y0 + h + 3), label, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".tmp-" + out.name)
    sheet.save(tmp, format="JPEG", quality=88)
    os.replace(tmp, out)
    return out


def curves(out: Path, runs: Path, names=BUNDLED) -> Path:
    """One loss-curve panel per bundled style from its training checkpoint's history."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .trainer import load_checkpoint
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 2.8), dpi=90, sharey=True)
    for ax, n in zip(axes, names):
        ck = runs / n / "checkpoint.pt"
        if not ck.exists():
            continue
        hist = load_checkpoint(ck)["history"]
        steps = [h[0] for h in hist]
        k = max(1, len(hist) // 25)
        for col, label in ((1, "content"), (2, "style"), (3, "tv")):
            v = [h[col] for h in hist]
            sm = [sum(v[max(0, i - k + 1): i + 1]) / (i + 1 - max(0, i - k + 1)) for i in range(len(v))]
            ax.plot(steps, sm, label=label)
        ax.set_yscale("log")
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("step")
    axes[0].set_ylabel("weighted loss")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".tmp-" + out.name)
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("photo", nargs="?", default=str(SHARED / "photos" / "sklearn_china.jpg"))
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "preview.jpg"))
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--styles", nargs="*", default=list(BUNDLED))
    a = ap.parse_args(argv)
    print(build(Path(a.photo), Path(a.output), a.size, a.styles))
    root = Path(__file__).resolve().parents[1]
    print(curves(root / "docs" / "loss_curves.png", root / "runs", a.styles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
