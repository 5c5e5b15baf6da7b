"""Perceptual losses of Gatys et al. 2015 ("A Neural Algorithm of Artistic Style") as used by
Johnson et al. 2016, plus total variation and a noise-stability term. Pure functions.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``BxCxHxW -> BxCxC``, normalised by ``C*H*W`` (Johnson et al. 2016, eq. 3).

    Always computed in fp32, outside any autocast region: bf16/fp16 sums over H*W lose too
    much precision (and fp16 overflows).
    """
    b, c, h, w = f.shape
    with torch.autocast(device_type=f.device.type, enabled=False):
        x = f.float().reshape(b, c, h * w)
        return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def content_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Feature reconstruction loss: mean squared error of two ``BxCxHxW`` maps -> scalar."""
    return F.mse_loss(a.float(), b.float())


def style_loss(feats: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float], sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over layers of ``w_l * MSE(gram(feats[l]), target_grams[l])`` -> scalar.

    ``feats[l]``: ``BxCxHxW``; ``target_grams[l]``: ``BxCxC`` or ``1xCxC`` (broadcast).
    ``sample_weights``: optional ``B`` factors (one per sample, e.g. a per-painting weight in
    multi-style training); the per-sample MSEs are weighted, then averaged over the batch.
    """
    total = torch.zeros((), device=next(iter(feats.values())).device)
    for name, w in layer_weights.items():
        g = gram(feats[name])
        t = target_grams[name].to(g.device).expand_as(g)
        if sample_weights is None:
            total = total + w * F.mse_loss(g, t)
        else:
            per = (g - t).pow(2).mean(dim=(1, 2))
            total = total + w * (per * sample_weights.to(per)).mean()
    return total


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of vertical and horizontal neighbours of ``BxCxHxW`` -> scalar.

    Anisotropic L1 TV (sum of the two means): penalises the fine high-frequency crosshatch a
    feed-forward net tends to produce (Johnson et al. 2016, sec. 3.3; Mahendran & Vedaldi 2015).
    """
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()
    return dh + dw


def grid_pattern(x: torch.Tensor, period: int = 8) -> torch.Tensor:
    """Energy of the part of ``BxCxHxW`` that repeats on a ``period`` x ``period`` grid -> scalar.

    The mean tile (every aligned pxp tile averaged, minus its own mean per channel) is the
    image's component of periods dividing ``period`` along both axes, locked to the grid; its
    mean square is its energy (0 for a constant image, near 0 for texture not locked to the grid). A net
    with stride-4/8 stages and pixel shuffle (the fast variant) can paint such a lattice: cheap
    high-frequency energy that a Gram loss takes for texture (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts", describe the same grid for strided upsampling).
    """
    b, c, h, w = x.shape
    x = x[:, :, :h // period * period, :w // period * period].float()
    tile = x.reshape(b, c, h // period, period, w // period, period).mean((2, 4))
    return (tile - tile.mean((2, 3), keepdim=True)).pow(2).mean()


def spectral_excess(x: torch.Tensor, target: torch.Tensor, band: int = 4, margin: float = 0.5) -> torch.Tensor:
    """Where ``x`` has more power than ``target`` at some spatial frequency: both ``BxCxHxW``,
    -> scalar. Power spectra of each (mean-removed) channel, averaged over ``band`` x ``band``
    frequency bins (one periodogram bin is too noisy to compare), compared as natural logs; the
    excess above ``margin`` is averaged over bins. A periodic pattern (a lattice) is a peak the
    target lacks; broad texture the target has costs nothing. 0 when ``x`` equals ``target``.
    """
    def power(v: torch.Tensor) -> torch.Tensor:
        v = v.float()
        v = v - v.mean((2, 3), keepdim=True)
        p = torch.fft.rfft2(v, norm="ortho").abs().pow(2)
        return F.avg_pool2d(p, band, ceil_mode=True)
    excess = torch.log(power(x) + 1e-6) - torch.log(power(target) + 1e-6) - margin
    return F.relu(excess).mean()


def lowpass_l1(x: torch.Tensor, target: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Mean absolute difference of the ``block`` x ``block`` means of two ``BxCxHxW`` images ->
    scalar. Asks for the target's colours and tones at 1/``block`` resolution and leaves the
    texture inside each block free: a student trained on the teacher's own perceptual loss keeps
    the teacher's palette without having to place each stroke where the teacher put it.
    """
    return (F.avg_pool2d(x.float(), block) - F.avg_pool2d(target.float(), block)).abs().mean()


def _grad_mag(x: torch.Tensor) -> torch.Tensor:
    """``BxCxHxW`` -> ``Bx1x(H-1)x(W-1)``: per pixel, the largest over channels of |dx| + |dy|."""
    dy = (x[:, :, 1:, :-1] - x[:, :, :-1, :-1]).abs()
    dx = (x[:, :, :-1, 1:] - x[:, :, :-1, :-1]).abs()
    return (dx + dy).amax(dim=1, keepdim=True)


def flat_blob(y: torch.Tensor, x: torch.Tensor, block: int = 8, tau: float = 0.02) -> torch.Tensor:
    """Low-frequency colour variation of the output ``y`` where the photo ``x`` is flat: both
    ``BxCxHxW`` in [0,1] -> scalar ([0,1] units per ``block`` px).

    Both are averaged over ``block`` x ``block`` cells (strokes finer than a cell cancel out);
    the change of ``y``'s cell colours between neighbouring cells counts where ``x``'s cells do
    not change, weighted by ``exp(-|grad x| / tau)``. An instance-norm net paints a soft blob of
    another colour over a flat sky (the "droplet" of Karras et al. 2020, sec. 2): a variation the
    photo does not have, at a scale no Gram loss cares about. 0 for ``y == x``.
    """
    ly, lx = F.avg_pool2d(y.float(), block), F.avg_pool2d(x.float(), block)
    flat = torch.exp(-_grad_mag(lx) / tau)
    return (flat * F.relu(_grad_mag(ly) - _grad_mag(lx))).mean()


def cell_std(x: torch.Tensor, cell: int, eps: float = 1e-8) -> torch.Tensor:
    """Std of each ``cell`` x ``cell`` cell, per channel: ``BxCxHxW`` -> ``BxCx(H/cell)x(W/cell)``,
    in ``x``'s units. ``eps`` inside the square root keeps the gradient finite on flat cells."""
    m = F.avg_pool2d(x, cell)
    return (F.avg_pool2d(x * x, cell) - m * m).clamp(min=0).add(eps).sqrt()


def colour_consistency(y: torch.Tensor, x: torch.Tensor, cell: int = 16, bandwidth: float = 0.05,
                       exclude: float = 3.0, margin: float = 0.08) -> torch.Tensor:
    """Low-frequency colour of the output ``y`` that the rest of the image does not predict from
    the photo ``x``: both ``BxCxHxW`` in [0,1] -> scalar ([0,1] units per ``cell`` px cell).

    Per image, ``cell`` x ``cell`` cells: each cell's output colour is predicted by a Gaussian
    kernel regression (``bandwidth``) on the photo cells' colour and contrast (luma std), over the
    cells more than ``exclude`` cells away (a blob must not predict itself). The excess of the
    absolute error over ``margin`` counts, weighted by the support of the prediction. A style
    maps the same local photo to the same local paint; an instance-norm "droplet" (a flat blob of
    another colour, Karras et al. 2020 sec. 2) breaks that, while strokes finer than a cell and
    colour changes the photo itself has cost nothing. ~0 for ``y == x`` (smoothing error only).
    """
    b = y.shape[0]
    ly = F.avg_pool2d(y.float(), cell)
    lx = F.avg_pool2d(x.float(), cell)
    g = x.float().mean(1, keepdim=True)
    sd = cell_std(g, cell)
    h, w = ly.shape[2:]
    feat = torch.cat([lx, sd], 1).flatten(2).transpose(1, 2)           # B x N x 4
    val = ly.flatten(2).transpose(1, 2)                                 # B x N x 3
    pos = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1)
    pos = pos.reshape(-1, 2).float().to(y.device)
    far = (torch.cdist(pos, pos) > exclude).float()                     # N x N
    k = torch.exp(-torch.cdist(feat, feat).pow(2) / (2 * bandwidth ** 2)) * far
    mass = k.sum(-1, keepdim=True)                                      # B x N x 1
    pred = k @ val / (mass + 1e-6)
    support = mass / (mass + 1.0)
    err = F.relu((val - pred).abs() - margin)
    return (support * err).sum(-1).sum() / (b * h * w)


def flat_fill(y: torch.Tensor, cell: int = 8, tau: float = 0.02) -> torch.Tensor:
    """How far the output ``y`` (``BxCxHxW`` in [0,1]) falls below ``tau`` of local contrast, per
    ``cell`` x ``cell`` cell -> scalar ([0,1] units).

    The per-cell std (the largest over channels) under ``tau`` (5 levels) counts: a painting has
    paint texture everywhere, while a feed-forward net can fill a region with one flat colour (a
    blob with a halo, the "droplet" of instance-norm generators, Karras et al. 2020 sec. 2) that a
    Gram loss matched on the whole image barely notices. 0 when every cell has contrast >= tau.
    """
    return F.relu(tau - cell_std(y.float(), cell).amax(1)).mean()


def lattice(y: torch.Tensor, periods: tuple[int, ...] = (2, 4, 8), relative: bool = False) -> torch.Tensor:
    """How much ``BxCxHxW`` matches itself shifted by p px better than by p-1 and p+1 px, summed
    over ``periods`` -> scalar ([0,1] units, 0 for natural images; ``relative``: each dip divided
    by mean(D(p-1), D(p+1)), unitless, so a faint hatch on a soft image counts as much as a bold
    one on a busy image).

    The high-passed luma (minus its 5x5 mean) is compared with itself shifted horizontally and
    vertically: D(s) = mean |h - shift(h, s)|. Natural images decorrelate smoothly with
    distance, so D(p) >= (D(p-1) + D(p+1)) / 2; a texture repeating every p px (the crosshatch
    a Johnson net paints at the period of its two stride-2 stages) makes D(p) a dip, penalised
    here. ``fstvideo.bench.measures.lattice_score`` reports the same dip as a ratio.
    """
    w = torch.tensor((0.299, 0.587, 0.114), dtype=torch.float32, device=y.device).view(1, 3, 1, 1)
    g = (y.float() * w).sum(1, keepdim=True)
    h = g - F.avg_pool2d(F.pad(g, (2, 2, 2, 2), mode="reflect"), 5, stride=1)

    def d(s: int) -> torch.Tensor:
        return 0.5 * ((h[..., :, s:] - h[..., :, :-s]).abs().mean() + (h[..., s:, :] - h[..., :-s, :]).abs().mean())
    total = torch.zeros((), device=y.device)
    for p in periods:
        ref = 0.5 * (d(p - 1) + d(p + 1))
        total = total + F.relu(ref - d(p)) / (ref + 1e-8 if relative else 1.0)
    return total


def out_of_range(x: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of ``BxCxHxW`` values to ``[0, 1]`` -> scalar (0 when all inside).

    The net's output is unclamped; without this (and a clamped VGG input) it learns to paint
    extreme-valued blobs, a cheap way to raise Gram magnitudes.
    """
    x = x.float()
    return (x - x.clamp(0, 1)).pow(2).mean()


def stability_loss(net: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   sigma: float = 0.03, mix: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """``MSE(y, net(x + n))`` with ``n ~ N(0, sigma^2)`` in [0,1] units; ``y = net(x)``, Bx3xHxW.
    ``noise``: that ``n`` drawn by the caller (``x``'s shape; ``sigma`` and ``generator`` unused).

    Small input changes (sensor noise, compression, the next video frame) should not change the
    output much: Gupta et al. 2017 ("Characterizing and Improving Stability in Neural Style
    Transfer"), Xu et al. 2021 (noise-resilient training). Trades a little style for less flicker.
    """
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32) * sigma
    y2 = net((x.float() + noise).to(x.dtype), mix)
    return F.mse_loss(y.float(), y2.float())
