"""Frames over the pixel budget, stylized in overlapping tiles (used by :class:`~fstvideo.stylizer.Stylizer`).

The net's memory grows with the pixels it sees: on a CPU in fp32 Johnson's net holds ~0.9 KB a
pixel, so a 48-megapixel photo in one pass would need ~45 GB. Tiles within the budget are
stylized one at a time and put back together; two things keep their borders invisible:

- Instance norm statistics. Each tile would be normalised by its own mean and variance, so a
  tile of sky and a tile of trees would come out in different tones. Every norm layer's
  statistics are measured once, on a thumbnail of the whole frame within the budget, and each
  tile is normalised with those ("thumbnail instance normalisation": Chen et al. 2022, "Towards
  Ultra-Resolution Neural Style Transfer via Thumbnail Instance Normalization").
- Borders. Near a tile's edge the convolutions see padding instead of the neighbour's pixels;
  neighbouring tiles overlap and are cross-faded with raised-cosine weights that fall towards
  zero at a tile's inner edges and sum to one everywhere.

A frame the net sees shrunk (``--max-size``, a style's processing size) is not cut up for the
net: the shrunk frame is stylized as a whole (or in tiles if it is still over the budget), and
only bringing it back to full size runs in strips (:func:`finish_in_strips`).

Memory besides the net on one tile: the frame in and out (3 bytes a pixel each) and one row of
tiles as float32 (12 bytes a pixel over a tile's height). Frames are HxWx3 uint8 RGB.
"""
from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from .frames import to_frames, to_tensor
from .guided import apply_coefficients, guided_coefficients, upsample_rows
from .model import CondInstanceNorm


def spans(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, end) of the fewest tiles of at most ``tile`` px covering ``[0, length)``, each
    overlapping the next by ``overlap`` px (at most a third of a tile), sizes rounded up to a
    multiple of ``multiple`` while they stay within ``tile``."""
    if length <= tile:
        return [(0, length)]
    overlap = min(overlap, tile // 3)
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    size = min(tile, -(-size // multiple) * multiple)
    step = size - overlap
    out = [(i * step, min(i * step + size, length)) for i in range(n)]
    while len(out) > 1 and out[-2][1] >= length:  # rounding made the last one redundant
        out.pop()
    return out


def blend_weights(parts: list[tuple[int, int]], length: int) -> list[np.ndarray]:
    """Per span, float32 weights over its pixels: 1 inside, sin^2 / cos^2 ramps across the
    overlaps with its neighbours, normalised so that the weights at every position sum to 1."""
    total = np.zeros(length, np.float64)
    ws = []
    for i, (s, e) in enumerate(parts):
        t = np.arange(s, e, dtype=np.float64) + 0.5  # pixel centres
        w = np.ones(e - s)
        if i > 0 and parts[i - 1][1] > s:  # rising over the overlap with the previous tile
            a, b = s, parts[i - 1][1]
            ramp = t < b
            w[ramp] *= np.sin(0.5 * np.pi * (t[ramp] - a) / (b - a)) ** 2
        if i + 1 < len(parts) and parts[i + 1][0] < e:  # falling over the overlap with the next
            a, b = parts[i + 1][0], e
            ramp = t >= a
            w[ramp] *= np.cos(0.5 * np.pi * (t[ramp] - a) / (b - a)) ** 2
        total[s:e] += w
        ws.append(w)
    return [(w / total[s:e]).astype(np.float32) for w, (s, e) in zip(ws, parts)]


def stylize_tiled(frame: np.ndarray, run: Callable[[np.ndarray], np.ndarray], tile: int, overlap: int,
                  multiple: int = 1) -> np.ndarray:
    """``run`` (tile frame -> stylized frame of the same size) over overlapping tiles of at most
    ``tile`` x ``tile`` px, cross-faded; one row of tiles is held at a time."""
    h, w = frame.shape[:2]
    ys, xs = spans(h, tile, overlap, multiple), spans(w, tile, overlap, multiple)
    wy, wx = blend_weights(ys, h), blend_weights(xs, w)
    out = np.empty_like(frame)
    carry = None  # float rows shared with the row of tiles above, already weighted
    for i, (y0, y1) in enumerate(ys):
        band = np.zeros((y1 - y0, w, 3), np.float32)
        for j, (x0, x1) in enumerate(xs):
            styled = run(np.ascontiguousarray(frame[y0:y1, x0:x1]))
            band[:, x0:x1] += styled * (wy[i][:, None, None] * wx[j][None, :, None])
        if carry is not None:
            band[:len(carry)] += carry
        done = (ys[i + 1][0] if i + 1 < len(ys) else y1) - y0  # rows no later tile touches
        out[y0:y0 + done] = np.clip(np.rint(band[:done]), 0, 255).astype(np.uint8)
        carry = band[done:]
    return out


def finish_in_strips(frame: np.ndarray, small: np.ndarray, styled: np.ndarray, budget: int, guided: bool,
                     finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     device: torch.device | str = "cpu") -> np.ndarray:
    """``styled`` (the net's output for ``small``, the frame shrunk) back at the frame's size, in
    strips of at most ``budget`` pixels: edge-aware (the guided filter's coefficients computed on
    the small images, applied to each strip of the full-size frame) or bilinear. ``finish(y, x)``
    gives each strip its colour and strength (1x3xRxW float tensors, the input strip ``x``). The
    strips are rows of one global upsampling, so they join without seams."""
    h, w = frame.shape[:2]
    low_out, low_in = to_tensor(styled, device), to_tensor(small, device)
    # a = 0, b = output: the same upsampling of the output alone (bilinear)
    ab = guided_coefficients(low_out, low_in) if guided else torch.cat([torch.zeros_like(low_out), low_out], 1)
    out = np.empty_like(frame)
    step = max(1, budget // w)
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        x = to_tensor(frame[r0:r1], device)
        out[r0:r1] = to_frames(finish(apply_coefficients(upsample_rows(ab, (h, w), r0, r1), x), x))[0]
    return out


class ThumbnailNorms:
    """A private copy of a net whose instance norms use statistics measured once by
    :meth:`measure` (on a thumbnail of the whole frame) instead of those of each input."""

    def __init__(self, net: torch.nn.Module):
        self.net = copy.deepcopy(net)  # the caller's net is shared with other threads: not patched
        self._stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._measuring = False
        for m in self.net.modules():
            if isinstance(m, CondInstanceNorm):
                m.forward = functools.partial(self._norm, m)  # type: ignore[method-assign]  # this copy only

    def measure(self, x: torch.Tensor, mix: torch.Tensor) -> None:
        """Record every norm layer's per-channel mean and variance for ``x`` (1x3xHxW)."""
        self._measuring = True
        try:
            self.net(x, mix)
        finally:
            self._measuring = False

    def _norm(self, m: CondInstanceNorm, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        if self._measuring:
            mean = xf.mean(dim=(2, 3), keepdim=True)
            self._stats[id(m)] = (mean, (xf - mean).square().mean(dim=(2, 3), keepdim=True))
        mean, var = self._stats[id(m)]
        scale, shift = mix @ m.weight, mix @ m.bias  # the style blend, as CondInstanceNorm does
        scale = scale.view(1, -1, 1, 1) if scale.dim() == 1 else scale[:, :, None, None]
        shift = shift.view(1, -1, 1, 1) if shift.dim() == 1 else shift[:, :, None, None]
        return (xf - mean).mul_(scale * torch.rsqrt(var + 1e-5)).add_(shift).to(x.dtype)
