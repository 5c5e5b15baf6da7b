"""Optimisation-based style transfer (Gatys et al. 2015, "A Neural Algorithm of Artistic
Style"): L-BFGS on the pixels of one image, initialised from the photo, with the same losses as
feed-forward training. Slow (minutes per image on a CPU) but the quality reference.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import losses
from .vgg import GATYS_CONTENT, GATYS_STYLE, JOHNSON_CONTENT, JOHNSON_STYLE, VGGFeatures


@dataclass(frozen=True)
class GatysConfig:
    net: str = "vgg16"                 # loss network: vgg16 (training's losses) or vgg19 (Gatys' layers)
    iterations: int = 200              # L-BFGS function evaluations
    content_weight: float = 1.0        # same meaning as TrainConfig.content_weight
    style_weight: float = 5e3          # same meaning as TrainConfig.style_weight
    tv_weight: float = 10.0            # same meaning as TrainConfig.tv_weight
    vgg_weights: str = ""              # explicit weights file; default: weights.find_vgg


def layers_for(net: str) -> tuple[dict[str, float], str]:
    """(style layer weights, content layer) for a loss network."""
    if net == "vgg19":
        return {n: 1.0 for n in GATYS_STYLE}, GATYS_CONTENT
    return {n: 1.0 for n in JOHNSON_STYLE}, JOHNSON_CONTENT


def stylize(photo: torch.Tensor, painting: torch.Tensor, config: GatysConfig = GatysConfig(),
            progress: Callable[[int, int, float], None] | None = None,
            vgg: VGGFeatures | None = None) -> torch.Tensor:
    """``photo`` 1x3xHxW, ``painting`` 1x3xhxw, both [0,1] -> stylized 1x3xHxW in [0,1]."""
    style_w, content_layer = layers_for(config.net)
    vgg = vgg or VGGFeatures(tuple(style_w) + (content_layer,), config.net,
                             weights_path=config.vgg_weights or None)
    with torch.no_grad():
        target_c = vgg(photo)[content_layer]
        fs = vgg(painting)
        target_g = {k: losses.gram(fs[k]) for k in style_w}
    img = photo.clone().contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS([img], lr=1.0, max_iter=config.iterations, history_size=50,
                            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    calls = [0]

    def closure():
        opt.zero_grad()
        f = vgg(img)
        loss = (config.content_weight * losses.content_loss(f[content_layer], target_c)
                + config.style_weight * losses.style_loss(f, target_g, style_w)
                + config.tv_weight * losses.total_variation(img))
        loss.backward()
        calls[0] += 1
        if progress is not None:
            progress(calls[0], config.iterations, float(loss.detach()))
        return loss

    opt.step(closure)
    return img.detach().clamp(0, 1)
