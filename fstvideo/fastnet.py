"""The fast CPU net (``NetConfig.shuffle``; the bundled ``<name>_fast`` files use
:data:`~fstvideo.model.FAST_CONFIG`), design notes in docs/fast_variant.md.

Johnson et al.'s net with its full-resolution convolutions taken out: space-to-depth folds each
``space x space`` block of pixels into channels, every learned conv runs at ``1/space`` resolution
or below, and pixel shuffle (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
Using an Efficient Sub-Pixel Convolutional Neural Network") gives every output pixel its own
weights on the way back. Conditional instance norm as in :class:`~fstvideo.model.JohnsonNet`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .model import FAST_CONFIG, CondInstanceNorm, ConvLayer, NetConfig, ResidualBlock, StyleNet


class FastNet(StyleNet):
    """Space-to-depth by ``space`` (s), a stem conv and a stride-2 conv to ``widths[2]`` channels at
    1/2s, ``blocks`` residual blocks there, a conv to ``4 * widths[1]`` channels pixel-shuffled to
    ``widths[1]`` at 1/s, then the output stage:

    - ``fine`` = 0: ``out``, a conv to ``3 s^2`` channels, pixel-shuffled to RGB at full size;
    - ``fine`` > 0: ``out``, a depthwise-separable conv to ``4 * fine`` channels pixel-shuffled to
      ``fine`` at 1/2 (neighbouring s x s blocks mix: no s-pixel-periodic texture), then ``fine_out``,
      a depthwise-separable conv to ``3 (s/2)^2`` channels pixel-shuffled to RGB.

    With ``skip`` a 1x1 conv of the input (3 -> 3, zero-initialised: the net starts as without it)
    is added to the output. ``multiple`` is ``2 * space``. Reads ``widths[1:]``, ``blocks``,
    ``outer_kernel``, ``depthwise``, ``n_styles``, ``space``, ``skip``, ``fine`` and ``stem_kernel``.
    """

    def __init__(self, config: NetConfig = FAST_CONFIG):
        if not config.shuffle:
            raise ValueError("not a shuffle (fast) architecture: a JohnsonNet, see build_net")
        if config.smooth:
            raise ValueError("smooth is an option of Johnson's net (its stride-2 convs and upsampling)")
        super().__init__(config)
        s, fine = config.space, config.fine
        self.multiple = 2 * s
        _, c2, c3 = config.widths
        n, k = config.n_styles, config.outer_kernel
        stem_kernel = config.stem_kernel or k
        self.res = nn.ModuleList([ResidualBlock(c3, n, config.depthwise) for _ in range(config.blocks)])
        # s x s pixels -> 3s^2 channels at 1/s resolution; the upsampling conv makes 4*c2 channels at
        # 1/2s resolution that pixel_shuffle rearranges to c2 at 1/s (no checkerboard: every output
        # pixel has its own weights).
        cs = 3 * s ** 2
        self.down = nn.ModuleList([ConvLayer(cs, c2, stem_kernel, n_styles=n),
                                   ConvLayer(c2, c3, 3, stride=2, n_styles=n)])
        self.up = nn.ModuleList([ConvLayer(c3, 4 * c2, 3, norm=False, relu=False, depthwise=config.depthwise)])
        self.up_norm = CondInstanceNorm(c2, n)
        self.fine_out: ConvLayer | None
        if fine:
            self.out = ConvLayer(c2, 4 * fine, 3, norm=False, relu=False, depthwise=True)
            self.fine_out = ConvLayer(fine, 3 * (s // 2) ** 2, 3, norm=False, relu=False, depthwise=True)
        else:
            self.out = ConvLayer(c2, cs, k, norm=False, relu=False)
            self.fine_out = None
        self.skip = nn.Conv2d(3, 3, 1) if config.skip else None
        if self.skip is not None and self.skip.bias is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
        # space-to-depth + 1x1 conv == one s x s conv with stride s (the same weights viewed as
        # C x 3 x s x s): exact, and ~5x faster on CPU (no full-size permutation copy)
        self.patch_stem = stem_kernel == 1

    def output_parameters(self) -> list[nn.Parameter]:
        """The conv whose pixel-shuffled output is the image: ``fine_out`` with a fine stage, else
        ``out``. The skip is left out: its weights map input pixels to output pixels (unitless)."""
        return list((self.out if self.fine_out is None else self.fine_out).parameters())

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: Bx3xHxW in [0, 1], H and W multiples of :attr:`multiple`. ``mix``: n_styles or Bxn_styles."""
        m = self.mix if mix is None else mix
        photo, down, s = x, self.down, self.config.space
        stem = self.down[0]
        if self.patch_stem and isinstance(stem, ConvLayer) and stem.norm is not None:
            x = F.relu(stem.norm(F.conv2d(x, stem.conv.weight.view(-1, 3, s, s), stem.conv.bias, stride=s), m))
            down = self.down[1:]
        else:
            x = F.pixel_unshuffle(x, s)
        for layer in down:
            x = layer(x, m)
        for block in self.res:
            x = block(x, m)
        x = F.relu(self.up_norm(F.pixel_shuffle(self.up[0](x, m), 2), m))
        if self.fine_out is not None:
            x = F.relu(F.pixel_shuffle(self.out(x, m), 2))
            y = F.pixel_shuffle(self.fine_out(x, m), s // 2)
        else:
            y = F.pixel_shuffle(self.out(x, m), s)
        return y if self.skip is None else y + self.skip(photo)
