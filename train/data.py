"""Training images: any folder of photos (recursive; COCO train2014 works as is) and paintings; for
distillation, (photo, teacher output) pairs and aligned crops of them."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from fstvideo.errors import FstError
from fstvideo.mediabase import describe
from fstvideo.model import StyleNet

EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class DataError(FstError):
    """Training data (photo folder or painting) missing or unreadable."""


def find_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"photo folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS and p.is_file())
    if not files:
        raise DataError(f"no images (jpg/png/...) in {folder}")
    return files


def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read image {path} ({describe(e)})") from None


_WARNED: set[Path] = set()  # unreadable photos already reported (several PhotoCrops share a folder)


def to_chw(im: Image.Image) -> torch.Tensor:
    """PIL RGB -> 3xHxW float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous().float() / 255.0


def load_painting(path: str | os.PathLike, size: int | None, side: str = "longest") -> torch.Tensor:
    """Painting as 1x3xHxW in [0,1], resized so its ``side`` ("longest"/"shorter") is ``size`` px.

    A smaller painting means larger brush strokes relative to the output (the Gram statistics are
    measured at a coarser scale).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"painting not found: {p}")
    im = _open_rgb(p)
    if size:
        w, h = im.size
        ref = max(w, h) if side == "longest" else min(w, h)
        s = size / ref
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return to_chw(im)[None]


class PhotoCrops:
    """Random training crops: shorter side resized to ``size * U(1, max_scale)``, a random
    ``size x size`` crop, and a random horizontal flip. Decoded images are cached (small sets)."""

    def __init__(self, folder: str | os.PathLike, size: int, seed: int = 0, max_scale: float = 1.5,
                 cache: int = 512):
        self.folder = Path(folder)
        self.files = find_images(folder)
        self.size = size
        self.max_scale = max_scale
        self.rng = random.Random(seed)
        self.cache_limit = cache
        self._cache: dict[Path, Image.Image] = {}

    def _get(self, p: Path) -> Image.Image:
        im = self._cache.get(p)
        if im is None:
            im = _open_rgb(p)
            # Pre-shrink big photos (COCO is ~640px): a crop never needs more than size*max_scale.
            need = int(self.size * self.max_scale) + 1
            w, h = im.size
            if min(w, h) > 2 * need:
                s = 2 * need / min(w, h)
                im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
            if len(self._cache) < self.cache_limit:
                self._cache[p] = im
        return im

    def _photo(self) -> Image.Image:
        """A random readable photo. An unreadable one (truncated, not an image) is dropped from the
        set with a warning; only a folder without a single readable photo stops training."""
        while True:
            p = self.rng.choice(self.files)
            try:
                return self._get(p)
            except DataError as e:
                self.files.remove(p)
                if p not in _WARNED:
                    _WARNED.add(p)
                    print(f"warning: {e}; skipped", file=sys.stderr)
                if not self.files:
                    raise DataError(f"no readable images in {self.folder}") from None

    def sample(self, keep: bool = True) -> torch.Tensor | None:
        """One 3xSxS crop in [0, 1]; ``keep=False`` draws the same random numbers (the stream
        goes on as if it had been made) but skips the resize and crop, and returns None."""
        im = self._photo()
        w, h = im.size
        short = self.size * self.rng.uniform(1.0, self.max_scale)
        s = short / min(w, h)
        nw, nh = max(self.size, round(w * s)), max(self.size, round(h * s))
        x0 = self.rng.randint(0, nw - self.size)
        y0 = self.rng.randint(0, nh - self.size)
        flip = self.rng.random() < 0.5
        if not keep:
            return None
        im = im.resize((nw, nh), Image.BILINEAR).crop((x0, y0, x0 + self.size, y0 + self.size))
        return to_chw(im.transpose(Image.FLIP_LEFT_RIGHT) if flip else im)

    def batch(self, n: int, rows: slice | None = None) -> torch.Tensor:
        """Bx3xSxS; with ``rows``, only those rows of the batch of ``n`` (the stream advances by
        ``n`` crops: every process of a distributed run draws the same batch and keeps its rows)."""
        keep = range(n)[rows] if rows is not None else range(n)
        out = [self.sample(i in keep) for i in range(n)]
        return torch.stack([x for x in out if x is not None])

    def state(self) -> list:
        """RNG state as JSON-able data (for checkpoints)."""
        v, internal, g = self.rng.getstate()
        return [v, list(internal), g]

    def set_state(self, s: list) -> None:
        self.rng.setstate((s[0], tuple(s[1]), s[2]))


@torch.inference_mode()
def teacher_pairs(teacher: StyleNet, photos: list[Path], size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(photo, teacher output) pairs, each 3xHxW in [0,1], photos resized to ``size`` longest side."""
    pairs = []
    for p in photos:
        with Image.open(p) as im:
            im = im.convert("RGB")
            s = size / max(im.size)
            w, h = (max(16, round(im.size[0] * s / 4) * 4), max(16, round(im.size[1] * s / 4) * 4))
            x = to_chw(im.resize((w, h), Image.LANCZOS))
        pairs.append((x, teacher(x[None]).clamp(0, 1)[0]))
    return pairs


def pair_crops(pairs_by_style, crop: int, n: int, rng: random.Random, slot_weights: list[float] | None = None):
    """``n`` random aligned ``crop`` x ``crop`` crops of (photo, teacher output) pairs, randomly mirrored:
    ``nx3xcropxcrop`` photos, the same of outputs, and the slot of each (drawn by ``slot_weights``)."""
    xs, ys, styles = [], [], []
    for _ in range(n):
        s = (rng.randrange(len(pairs_by_style)) if slot_weights is None
             else rng.choices(range(len(pairs_by_style)), slot_weights)[0])
        x, y = pairs_by_style[s][rng.randrange(len(pairs_by_style[s]))]
        h, w = x.shape[1:]
        c = min(crop, h, w) // 4 * 4
        top, left = rng.randrange(h - c + 1), rng.randrange(w - c + 1)
        x, y = x[:, top:top + c, left:left + c], y[:, top:top + c, left:left + c]
        if c != crop:
            x = F.interpolate(x[None], size=(crop, crop), mode="bilinear", align_corners=False)[0]
            y = F.interpolate(y[None], size=(crop, crop), mode="bilinear", align_corners=False)[0]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        xs.append(x)
        ys.append(y)
        styles.append(s)
    return torch.stack(xs), torch.stack(ys), torch.tensor(styles)
