"""Frozen VGG feature extractor (Simonyan & Zisserman 2015) used as the loss network.

Input ``Bx3xHxW`` RGB in ``[0, 1]``; ImageNet normalisation happens inside. The network stops
at the deepest requested tap (relu4_3 for Johnson et al. 2016's VGG16 losses), which saves the
cost of conv5. Output: ``{tap name: BxCxhxw}``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .weights import conv_indices, find_vgg

# Convs per block: VGG16 2-2-3-3-3, VGG19 2-2-4-4-4. Names follow the paper: relu{block}_{conv}.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
JOHNSON_STYLE = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # Johnson et al. 2016, VGG16
JOHNSON_CONTENT = "relu2_2"
GATYS_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys et al. 2015, VGG19
GATYS_CONTENT = "relu4_2"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def layer_names(net: str) -> list[tuple[str, int]]:
    """[(tap name, torchvision features index of its conv)] in order; pools follow each block."""
    out, convs = [], iter(conv_indices(net))
    for b, n in enumerate(BLOCKS[net], start=1):
        for c in range(1, n + 1):
            out.append((f"relu{b}_{c}", next(convs)))
    return out


class VGGFeatures(nn.Module):
    """VGG conv stack up to the deepest of ``taps``; frozen, eval mode."""

    def __init__(self, taps: tuple[str, ...] | list[str] = JOHNSON_STYLE + (JOHNSON_CONTENT,),
                 net: str = "vgg16", state: dict[str, torch.Tensor] | None = None,
                 weights_path: str | None = None):
        super().__init__()
        names = layer_names(net)
        known = [n for n, _ in names]
        bad = [t for t in taps if t not in known]
        if bad:
            raise ValueError(f"unknown {net} layers {bad} (known: {', '.join(known)})")
        self.taps = tuple(taps)
        last = max(known.index(t) for t in taps)
        state = state if state is not None else find_vgg(net, weights_path)
        self.names = known[: last + 1]
        self.pool_after = set()  # names after which a 2x2 max-pool follows (end of a block)
        self.convs = nn.ModuleList()
        prev = 3
        for _, idx in names[: last + 1]:
            w, b = state[f"features.{idx}.weight"], state[f"features.{idx}.bias"]
            conv = nn.Conv2d(prev, w.shape[0], 3, padding=1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
            self.convs.append(conv)
            prev = w.shape[0]
        for b, n in enumerate(BLOCKS[net], start=1):
            self.pool_after.add(f"relu{b}_{n}")
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, stop: str = "") -> dict[str, torch.Tensor]:
        """Bx3xHxW in [0,1] -> {tap: features}; ``stop``: last tap needed (the content target
        needs only relu2_2: a quarter of the stack's cost)."""
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = {}
        for name, conv in zip(self.names, self.convs):
            x = F.relu(conv(x))
            if name in self.taps:
                out[name] = x
            if name in (self.names[-1], stop):
                break
            if name in self.pool_after:
                x = F.max_pool2d(x, 2)
        return out
