"""What training minimises and how it steps, shared by the trainer (``train/trainer.py``) and
distillation (``train/distill.py``): the weighted perceptual objective of Johnson et al. 2016 with
this project's penalties (:class:`Objective`), and Adam with the output layer's own learning rate
(:func:`adam`). The loss functions themselves are the pure ones of ``train/losses.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch

from fstvideo.model import StyleNet

from . import losses
from .vgg import JOHNSON_CONTENT, JOHNSON_STYLE

if TYPE_CHECKING:
    from .config import TrainConfig


def adam(net: StyleNet, lr: float, out_lr_scale: float, device: torch.device) -> torch.optim.Adam:
    """Adam over ``net``'s parameters, those of its output layer (``net.output_parameters()``) at
    ``lr * out_lr_scale``: Johnson et al.'s lr 1e-3 was tuned for a net emitting 0-255 images and
    ours emit [0, 1], so the same step of the output layer's weights moves pixels 255x further.
    One parameter group when the scale is 1 (the layout of checkpoints saved without the field),
    else two: the rest, then the output layer. Fused kernels where the device has them."""
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    params = list(net.parameters())
    if out_lr_scale == 1.0:
        return torch.optim.Adam(params, lr=lr, **fused)
    out = net.output_parameters()
    out_ids = {id(p) for p in out}
    groups = [{"params": [p for p in params if id(p) not in out_ids]}, {"params": out, "lr": lr * out_lr_scale}]
    return torch.optim.Adam(groups, lr=lr, **fused)


class Terms(NamedTuple):
    """One step's loss terms, each a scalar tensor: ``content`` and ``style`` and ``tv`` unweighted
    (``style`` with the per-sample style weights), ``total`` the weighted sum."""
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    total: torch.Tensor


@dataclass(frozen=True)
class Objective:
    """``content_weight * content + style_scale * style + tv_weight * TV`` (Johnson et al. 2016: the
    relu2_2 feature MSE against the photo, the Gram MSEs against the painting, total variation),
    plus, where their weights are non-zero, the penalties on output outside [0, 1]
    (``losses.out_of_range``), colour blobs over flat photo areas (``losses.flat_blob``), texture
    locked to a 2/4/8-px period (``losses.lattice``) and blobs of a colour the rest of the image
    does not paint for that photo colour (``losses.colour_consistency``) or regions painted one flat
    colour (``losses.flat_fill``)."""

    content_weight: float = 1.0
    tv_weight: float = 1.0
    range_weight: float = 0.0
    blob_weight: float = 0.0
    lattice_weight: float = 0.0
    consistency_weight: float = 0.0
    fill_weight: float = 0.0
    content_layer: str = JOHNSON_CONTENT
    style_layers: tuple[tuple[str, float], ...] = tuple((name, 1.0) for name in JOHNSON_STYLE)

    @staticmethod
    def of(c: TrainConfig) -> Objective:
        """The objective a :class:`~train.config.TrainConfig` trains with."""
        return Objective(content_weight=c.content_weight, tv_weight=c.tv_weight, range_weight=c.range_weight,
                         blob_weight=c.blob_weight, lattice_weight=c.lattice_weight,
                         consistency_weight=c.consistency_weight, fill_weight=c.fill_weight,
                         content_layer=c.content_layer,
                         style_layers=c.style_layers)

    @staticmethod
    def of_teacher(training_config: dict) -> Objective:
        """A teacher's content, style, TV and range terms at the weights its recorded training config
        gives (TrainConfig's defaults where absent), for distill's painting term. The teacher's blob,
        lattice and consistency penalties are left out: the student's periodic patterns and colours
        have their own terms there (``DistillConfig.lattice_weight``, ``lowpass_weight``)."""
        t = training_config
        return Objective(content_weight=float(t.get("content_weight", 1.0)), tv_weight=float(t.get("tv_weight", 1.0)),
                         range_weight=float(t.get("range_weight", 100.0)))

    @property
    def layer_weights(self) -> dict[str, float]:
        """VGG16 tap -> weight of its Gram term."""
        return dict(self.style_layers)

    def __call__(self, y: torch.Tensor, x: torch.Tensor, fy: dict[str, torch.Tensor], fx: dict[str, torch.Tensor],
                 grams: dict[str, torch.Tensor], style_weights: torch.Tensor | None = None,
                 style_scale: float = 1.0) -> Terms:
        """``y``: the net's output for the photos ``x`` (both ``Bx3xHxW``); ``fy``, ``fx``: their VGG16
        features (``fx`` needs only the content layer); ``grams``: per tap the ``BxCxC`` (or ``1xCxC``)
        target Grams; ``style_weights``: ``B`` per-sample style weights; ``style_scale``: a factor on
        the style term (the trainer's warm-up ramp, distill's ``painting_style_scale``)."""
        content = losses.content_loss(fy[self.content_layer], fx[self.content_layer])
        style = losses.style_loss(fy, grams, self.layer_weights, style_weights)
        tv = losses.total_variation(y.float())
        total = self.content_weight * content + style_scale * style + self.tv_weight * tv
        if self.range_weight:
            total = total + self.range_weight * losses.out_of_range(y)
        if self.blob_weight:
            total = total + self.blob_weight * losses.flat_blob(y, x)
        if self.lattice_weight:
            total = total + self.lattice_weight * losses.lattice(y)
        if self.consistency_weight:
            total = total + self.consistency_weight * losses.colour_consistency(y, x)
        if self.fill_weight:
            total = total + self.fill_weight * losses.flat_fill(y)
        return Terms(content, style, tv, total)
