"""The fast CPU nets, design notes in docs/fast_variant.md: :class:`PyramidNet`
(``NetConfig.pyramid``; :data:`~fstvideo.model.FAST_CONFIG`, the bundled ``<name>_fast`` files) and
the earlier :class:`FastNet` (``NetConfig.shuffle``), whose files still load.

Johnson et al.'s net with its full-resolution convolutions taken out: space-to-depth folds each
``space x space`` block of pixels into channels, every learned conv runs at ``1/space`` resolution
or below, and pixel shuffle (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
Using an Efficient Sub-Pixel Convolutional Neural Network") gives every output pixel its own
weights on the way back. Conditional instance norm as in :class:`~fstvideo.model.JohnsonNet`.

A pixel shuffle and a non-overlapping patch stem are also what paint a pattern locked to the pixel
grid: every 4x4 block of output pixels comes from one feature vector through the same per-position
weights, so a texture the Gram loss asks for repeats every 4 or 8 px. :class:`PyramidNet` keeps the
low internal resolution and drops both: a binomial blur before each stride-2 conv (Zhang 2019,
"Making Convolutional Networks Shift-Invariant Again") and bilinear upsampling followed by a conv
(Odena et al. 2016) treat every pixel position alike.
"""
from __future__ import annotations

from typing import cast

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


# [1, 2, 1] x [1, 2, 1] / 16: the binomial low-pass of model._blur, as a 1x1x3x3 kernel
_BINOMIAL = (torch.tensor([1.0, 2.0, 1.0])[:, None] * torch.tensor([1.0, 2.0, 1.0])[None, :] / 16).view(1, 1, 3, 3)

# Bilinear x2 (half-pixel centres) followed by a 3-tap filter w[-1..1], per output phase (even,
# odd), as a 3-tap filter on the low-resolution input: row a of the result is _PHASE[a] @ w.
# Even outputs 2i sit at i - 1/4 (0.25 x[i-1] + 0.75 x[i]), odd ones at i + 1/4.
_PHASE = torch.tensor([[[0.75, 0.25, 0.0], [0.25, 0.75, 0.75], [0.0, 0.0, 0.25]],
                       [[0.25, 0.0, 0.0], [0.75, 0.75, 0.25], [0.0, 0.25, 0.75]]])  # phase x tap x w-tap


class BlurDown(ConvLayer):
    """Blur, then a stride-2 ``kernel`` conv (Zhang 2019: no aliasing), run as one stride-2 conv
    of side ``kernel + 2`` whose weights are the conv's convolved with the blur. The same map as
    ``ConvLayer(stride=2)(model._blur(x))`` up to the border pixels, one full-resolution pass
    instead of two (a depthwise blur of a 3-channel frame is ~16x slower on CPU than the conv)."""

    def __init__(self, cin: int, cout: int, kernel: int, n_styles: int):
        super().__init__(cin, cout, kernel, stride=2, n_styles=n_styles)
        self.pad = kernel // 2 + 1

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight
        o, c, k, _ = w.shape
        wide = F.conv2d(F.pad(w.reshape(o * c, 1, k, k), (2, 2, 2, 2)), _BINOMIAL.to(w)).view(o, c, k + 2, k + 2)
        x = F.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"), wide, self.conv.bias, stride=2)
        x = self.norm(x, mix) if self.norm is not None else x
        return F.relu(x) if self.relu else x


class UpOut(nn.Module):
    """Bilinear x2, then a 3x3 conv to ``cout`` channels: the output stage, run at the input's
    resolution as its four phases (a 3x3 conv to ``4 cout`` channels whose weights are derived from
    the one 3x3 kernel, then pixel shuffle). Every output pixel gets the same kernel, resampled,
    so no pattern locks to the 2-px grid (a free pixel shuffle paints one); and no full-resolution
    feature map is formed (bilinear x2 of 16 channels and a conv on it: ~25 ms at 640x480 on
    2 cores; this: ~4 ms). Edges: the input is replicated, as bilinear upsampling clamps."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.conv.weight, self.conv.bias
        u = _PHASE.to(w)
        # phases[o, a, b', c, p, q] = sum_{d,e} u[a, p, d] w[o, c, d, e] u[b', q, e]
        phases = torch.einsum("apd,ocde,bqe->oabcpq", u, w, u).reshape(-1, w.shape[1], 3, 3)
        bias = None if b is None else b.repeat_interleave(4)
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), phases, bias), 2)


class PyramidNet(StyleNet):
    """Encoder: three :class:`BlurDown` (blur, stride-2 conv) stages to ``widths[0]``, ``widths[1]``,
    ``widths[2]`` channels at 1/2, 1/4 and 1/8 (the first with an ``outer_kernel`` kernel), then
    ``blocks`` residual blocks at 1/8. Decoder, per level: a 3x3 conv at the lower resolution (to
    ``widths[1]``, then ``widths[0]``), bilinear x2, plus the encoder's feature map of that
    resolution (U-Net skips, Ronneberger et al. 2015: the photo's edges at 1/4 and 1/2, where the
    1/8 blocks have blurred them), then ``refine`` residual blocks of dense 3x3 convs (texture at
    4- and 2-px scale). Output: :class:`UpOut` (bilinear x2 and a 3x3 conv to RGB, run at 1/2 as
    its four phases); no learned conv runs at full resolution. With ``skip`` a zero-initialised
    1x1 conv of the input is added (full-size edges). Reads ``widths``, ``blocks``,
    ``outer_kernel``, ``depthwise`` (the 1/8 blocks), ``n_styles``, ``skip`` and ``refine``;
    ``multiple`` 8.

    Multiply-adds per output pixel at FAST_CONFIG (widths 16/32/64, 3 blocks, refine 1): ~5.7k,
    of them ~1.9k in the encoder, ~0.4k in the 1/8 blocks, ~2.9k in the decoder and refine blocks,
    ~0.4k in the output (FastNet: ~1.2k; Johnson's net: ~154k).
    """

    multiple = 8

    def __init__(self, config: NetConfig = FAST_CONFIG):
        if not config.pyramid or config.shuffle or config.smooth:
            raise ValueError("not a pyramid architecture (pyramid True, shuffle and smooth False): see build_net")
        super().__init__(config)
        c1, c2, c3 = config.widths
        n, k = config.n_styles, config.outer_kernel
        self.down = nn.ModuleList([BlurDown(3, c1, k, n), BlurDown(c1, c2, 3, n), BlurDown(c2, c3, 3, n)])
        self.res = nn.ModuleList([ResidualBlock(c3, n, config.depthwise) for _ in range(config.blocks)])
        self.up = nn.ModuleList([ConvLayer(c3, c2, 3, n_styles=n), ConvLayer(c2, c1, 3, n_styles=n)])
        levels = [[ResidualBlock(c, n, depthwise=False) for _ in range(config.refine)] for c in (c2, c1)]
        for block in levels[0] + levels[1]:  # zero-gamma (Goyal et al. 2017): each starts as the identity
            assert block.b.norm is not None
            nn.init.zeros_(block.b.norm.weight)
        self.refine = nn.ModuleList([nn.ModuleList(level) for level in levels])
        self.out = UpOut(c1, 3)
        self.skip = nn.Conv2d(3, 3, 1) if config.skip else None
        if self.skip is not None and self.skip.bias is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def output_parameters(self) -> list[nn.Parameter]:
        """``out``, the conv that emits the image (the skip is left out, as in FastNet)."""
        return list(self.out.parameters())

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: Bx3xHxW in [0, 1], H and W multiples of 8. ``mix``: n_styles or Bxn_styles."""
        m = self.mix if mix is None else mix
        photo, feats = x, []
        for layer in self.down:
            x = layer(x, m)
            feats.append(x)
        for block in self.res:
            x = block(x, m)
        for layer, skip, level in zip(self.up, (feats[1], feats[0]), self.refine):
            x = _up2(layer(x, m)) + skip
            for block in cast(nn.ModuleList, level):
                x = block(x, m)
        y = self.out(x)
        if self.skip is None:
            return y
        # the 1x1 skip as a 3x3 matrix on the pixels: mkldnn's 3-channel 1x1 conv is ~4x slower
        w, b = self.skip.weight.view(3, 3), self.skip.bias
        return y + (w @ photo.flatten(2)).view_as(photo) + (0 if b is None else b.view(1, 3, 1, 1))


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 (half-pixel centres: the blur-and-stride-2 encoder's sampling grid)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
