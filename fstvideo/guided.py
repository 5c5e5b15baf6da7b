"""Edge-aware upsampling of a low-resolution stylized image with the full-resolution input as
guide: the fast guided filter (He et al. 2013, "Guided Image Filtering"; He & Sun 2015, "Fast
Guided Filter"; Wu et al. 2018, "Fast End-to-End Trainable Guided Filter").

At low resolution, each output channel is modelled locally as ``a * I + b`` of the grey guide
``I``; the coefficient maps are smoothed, upsampled bilinearly and applied to the full-resolution
guide. The stylized colours and strokes come from the low-resolution output; the sharp content
edges come from the input. Cost: a few box filters at low resolution plus one multiply-add per
full-resolution pixel.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window, edges mirrored (reflect-101); BxCxHxW -> same.

    On CPU, OpenCV's running-sum box filter: ~15x faster than ``avg_pool2d`` (0.3 vs 4.3 ms for
    3x240x320 on 2 cores), which made the guided upsampling cost a quarter of a fast frame.
    """
    k = 2 * r + 1
    if x.device.type == "cpu" and x.dtype == torch.float32 and min(x.shape[-2:]) > r:
        # cv2 wants HxWxC; the result is a new array (the input is never modified).
        hwc = x.permute(0, 2, 3, 1).contiguous().numpy()
        out = np.stack([cv2.blur(im, (k, k), borderType=cv2.BORDER_REFLECT_101).reshape(im.shape) for im in hwc])
        return torch.from_numpy(out).permute(0, 3, 1, 2)
    return F.avg_pool2d(F.pad(x, (r,) * 4, mode="reflect"), k, stride=1)


def downscale(x: torch.Tensor, scale: float, multiple: int = 4) -> torch.Tensor:
    """``x`` (BxCxHxW) resized by ``scale`` (antialiased bilinear) to sides that are multiples of
    ``multiple`` (at least one multiple): the half-size input of a fast-path net."""
    h, w = x.shape[-2:]
    size = (max(multiple, round(h * scale / multiple) * multiple), max(multiple, round(w * scale / multiple) * multiple))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def guided_upsample(low_out: torch.Tensor, low_in: torch.Tensor, high_in: torch.Tensor,
                    radius: int = 2, eps: float = 1e-3) -> torch.Tensor:
    """Upsample ``low_out`` (Bx3xhxw) to the size of ``high_in`` (Bx3xHxW), guided by the input.

    ``low_in`` is ``high_in`` at ``low_out``'s size; all in [0,1]. ``radius``: window radius in
    low-resolution pixels; ``eps``: regularisation in [0,1]^2 units (larger = closer to plain
    bilinear, smaller = more of the input's edges).
    """
    luma = _LUMA.to(low_in.device, low_in.dtype)
    g = (low_in * luma).sum(1, keepdim=True)        # Bx1xhxw grey guide
    G = (high_in * luma).sum(1, keepdim=True)       # Bx1xHxW
    # One box pass over all eight statistics channels, one over the six coefficient maps.
    m = box(torch.cat([g, low_out, g * low_out, g * g], 1), radius)
    mean_g, mean_p, mean_gp, mean_gg = m[:, :1], m[:, 1:4], m[:, 4:7], m[:, 7:]
    a = (mean_gp - mean_g * mean_p) / (mean_gg - mean_g * mean_g + eps)
    b = mean_p - a * mean_g
    ab = F.interpolate(box(torch.cat([a, b], 1), radius), size=high_in.shape[-2:], mode="bilinear",
                       align_corners=False)
    return torch.addcmul(ab[:, 3:], ab[:, :3], G)
