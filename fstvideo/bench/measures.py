"""Image measures that see what the training loss cannot: a lattice locked to the pixel grid, a
colour blob over flat areas, droplets (flat fills of paint the photo does not explain), and
texture with the colour taken out. Pure functions on
``1x3xHxW`` float RGB in [0, 1] (``fstvideo.frames``); lower is better for all three.

The VGG style loss is also the training loss, and its Gram matrices are dominated by colour: a
tint of the painting's palette lowers it. These measures are not what the nets were trained on
(the training's blob and grid terms use other cells, periods and weights), so a net cannot
score well on them without looking right.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fstvideo.frames import luma

LATTICE_PERIODS = (2, 4, 8)  # px: the strides of the nets' down/upsampling stages
TEXTURE_LAYERS = ("relu2_2", "relu3_3", "relu4_3")  # relu1_2 is mostly colour and edges


def grey(img: torch.Tensor) -> torch.Tensor:
    """``Bx3xHxW`` -> ``Bx3xHxW`` luma replicated to three channels (what VGG expects)."""
    return luma(img).expand(-1, 3, -1, -1)


def _shift_diff(h: torch.Tensor, p: int) -> torch.Tensor:
    """Mean |h - h shifted by p px|, horizontal and vertical shifts averaged."""
    return 0.5 * ((h[..., :, p:] - h[..., :, :-p]).abs().mean() + (h[..., p:, :] - h[..., :-p, :]).abs().mean())


def lattice_score(img: torch.Tensor, periods: tuple[int, ...] = LATTICE_PERIODS) -> float:
    """How much the image matches itself shifted by p px better than by p-1 and p+1 px: the
    largest over ``periods`` of ``1 - D(p) / mean(D(p-1), D(p+1))``, where D(s) is the mean
    absolute difference of the high-passed luma and itself shifted by s px.

    Natural images decorrelate smoothly with distance (D grows and bends down), so they score
    <= 0; a pattern repeating every p px (a net's 4-px crosshatch) makes D(p) a dip: > 0, and
    >= 0.03 is visible at 100%. ``img``: ``1x3xHxW`` in [0, 1], both sides > 2 * max(periods).
    """
    y = grey(img.float())[:, :1]
    h = y - F.avg_pool2d(F.pad(y, (2, 2, 2, 2), mode="reflect"), 5, stride=1)  # high-pass: minus a 5x5 mean
    best = -float("inf")
    for p in periods:
        d = [_shift_diff(h, s) for s in (p - 1, p, p + 1)]
        ref = 0.5 * float(d[0] + d[2])
        best = max(best, 1.0 - float(d[1]) / ref if ref > 0 else 0.0)
    return best


def blob_score(out: torch.Tensor, photo: torch.Tensor, cell: int = 32, flat: float = 3.0) -> float:
    """Low-frequency colour change of ``out`` inside the regions where ``photo`` is flat, in 8-bit
    levels per ``cell`` px: both images averaged over ``cell`` x ``cell`` cells; where the photo's
    cells differ from their neighbours by less than ``flat`` levels (a sky, a wall), the mean of
    the output's largest channel difference between the same neighbours beyond the photo's own. Brush strokes finer than
    a cell cancel out; an instance-norm blob (Karras et al. 2020, sec. 2) does not. About 0-1 for
    a clean output, several levels with a blob; NaN when the photo has no flat region.
    ``out``, ``photo``: ``1x3xHxW`` in [0, 1], same size.
    """
    lo = F.avg_pool2d(out.float(), cell) * 255
    lp = F.avg_pool2d(photo.float(), cell) * 255

    def diffs(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ((c[..., :, 1:] - c[..., :, :-1]).abs().amax(1), (c[..., 1:, :] - c[..., :-1, :]).abs().amax(1))
    (ox, oy), (px, py) = diffs(lo), diffs(lp)
    mx, my = px < flat, py < flat
    n = int(mx.sum() + my.sum())
    if n == 0:
        return float("nan")
    # the output's change beyond the photo's own: 0 for the photo itself
    return float(((ox - px).clamp(min=0)[mx].sum() + (oy - py).clamp(min=0)[my].sum()) / n)


def _local_std(x: torch.Tensor, cell: int) -> torch.Tensor:
    """``BxCxHxW`` in [0,1] -> ``BxCx(H/cell)x(W/cell)``: the std of each cell, in 8-bit levels."""
    from fstvideo.train.losses import cell_std
    return cell_std(x, cell, eps=0.0) * 255


def droplet_score(out: torch.Tensor, photo: torch.Tensor, cell: int = 8, bandwidth: float = 8.0,
                  exclude: int = 6, flat: float = 3.0, off: float = 20.0, texture: float = 4.0) -> float:
    """Percent of the frame covered by droplets: flat fills of paint that the photo does not explain.

    A pixel (in ``cell``/2 px cells) belongs to a droplet when the output is flat there (std <
    ``flat`` levels) and either its colour is off by more than ``off`` levels from what the same
    photo colour and contrast get elsewhere in the frame (a Gaussian kernel regression over
    ``cell`` px cells, ``bandwidth`` levels, skipping cells closer than ``exclude`` cells, so a
    blob cannot explain itself) or it erased the photo's texture (photo std > output std +
    ``texture`` levels); isolated cells do not count (at least 6 of each 3x3 neighbourhood).
    An instance-norm net paints such blobs (Karras et al. 2020, sec. 2) in a colour of the
    painting over skies and lawns; brush strokes are not flat and the photo's own flat areas
    keep a consistent colour, so a clean output scores ~0 and the photo itself 0.
    ``out``, ``photo``: ``1x3xHxW`` in [0, 1], same size, sides >= ``cell``.
    """
    h, w = out.shape[2] // cell * cell, out.shape[3] // cell * cell
    out, photo = out[..., :h, :w].float(), photo[..., :h, :w].float()
    g = luma(photo)
    feat = torch.cat([F.avg_pool2d(photo, cell) * 255, _local_std(g, cell)], 1).flatten(2)[0].T  # N x 4
    val = (F.avg_pool2d(out, cell) * 255).flatten(2)[0].T                                       # N x 3
    yy, xx = torch.meshgrid(torch.arange(h // cell), torch.arange(w // cell), indexing="ij")
    pos = torch.stack([yy, xx], -1).reshape(-1, 2).float()
    k = torch.exp(-torch.cdist(feat, feat).pow(2) / (2 * bandwidth ** 2))
    k[torch.cdist(pos, pos) < exclude] = 0
    mass = k.sum(1)
    err = (val - k @ val / mass.clamp(min=1e-6)[:, None]).abs().amax(1) * (mass > 2)
    err = F.interpolate(err.reshape(1, 1, h // cell, w // cell), scale_factor=2, mode="nearest")
    so, sp = _local_std(out, cell // 2).amax(1, keepdim=True), _local_std(g, cell // 2)
    cand = ((so < flat) & ((err > off) | (sp > so + texture))).float()
    coherent = F.avg_pool2d(cand, 3, 1, 1, count_include_pad=False) * 9 >= 6
    return float((coherent.float() * cand).mean() * 100)


def gram_loss(feats: dict[str, torch.Tensor], grams: dict[str, torch.Tensor], layers: tuple[str, ...]) -> float:
    """Sum over ``layers`` of the MSE between ``gram(feats[l])`` (``1xCxHxW``) and ``grams[l]``
    (``1xCxC``): the style loss with unit layer weights."""
    from fstvideo.train.losses import gram
    return float(sum(F.mse_loss(gram(feats[k]), grams[k]) for k in layers))
