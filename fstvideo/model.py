"""The style networks: Johnson et al. 2016's feed-forward net (:class:`JohnsonNet`) and the fast CPU
variant (:class:`~fstvideo.fastnet.FastNet`), built from their stored architecture by :func:`build_net`.

:class:`JohnsonNet` is the image transformation network of Johnson et al. 2016, "Perceptual Losses
for Real-Time Style Transfer and Super-Resolution" (ECCV), with the improvements that became
standard: instance normalisation (Ulyanov et al. 2016, "Instance Normalization: The Missing
Ingredient for Fast Stylization"), reflection padding, and nearest-neighbour upsampling followed
by a convolution instead of transposed convolutions (Odena et al. 2016, no checkerboard).

Every normalisation is *conditional* (Dumoulin et al. 2017, "A Learned Representation for
Artistic Style"): a scale and shift per style, convolutions shared. A one-style net is the
special case ``n_styles == 1``; blending styles is a convex combination of the per-style
scales and shifts, set with :meth:`StyleNet.set_mix` or passed per sample.

Tensors: input and output ``Bx3xHxW`` float RGB in ``[0, 1]`` (see ``fstvideo.frames``); the
output is not clamped here. H and W must be multiples of :attr:`StyleNet.multiple` (the
Stylizer pads). The nets' module names are the tensor names of style files (``out.conv.weight``, ...): the
state dicts of the files must keep loading.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """The architecture a style file records (its ``arch`` object) and :func:`build_net` builds:
    ``shuffle`` picks the net, each net reads its own fields and the shared ones."""

    # Both nets
    widths: tuple[int, int, int] = (32, 64, 128)  # channels at full, 1/2 and 1/4 resolution (fast: 1/s, 1/2s)
    blocks: int = 5            # residual blocks at the lowest resolution (Johnson: 5)
    outer_kernel: int = 9      # kernel of the first and last conv (Johnson: 9); 3 or 5 is cheaper
    depthwise: bool = False    # residual convs as depthwise 3x3 + pointwise 1x1 (MobileNet): ~8x fewer MACs
    n_styles: int = 1          # conditional instance norm: one (scale, shift) set per style
    # JohnsonNet only
    smooth: bool = False       # binomial [1,2,1]^2 blur before each stride-2 conv (Zhang 2019, "Making
                               # Convolutional Networks Shift-Invariant Again") and bilinear instead of
                               # nearest x2 upsampling: no period-2/4 lattice locked to the pixel grid
    # FastNet (fstvideo.fastnet) only
    shuffle: bool = False      # True: the fast net. No full-resolution convs: space-to-depth in, pixel
                               # shuffle out (Shi et al. 2016); widths[0] unused. ~2.4x faster on CPU
    space: int = 2             # side of the pixel blocks folded into channels (2 or 4); 4 puts every conv
                               # at <= 1/4 resolution yet paints each output pixel itself
    skip: bool = False         # add a full-resolution 1x1 conv of the input (3 -> 3) to the output: the
                               # photo's own edges reach the output at full size, the net paints the rest
    fine: int = 0              # space 4: channels of one more stage at 1/2 resolution before the output
                               # (pixel shuffle 2, ReLU, depthwise-separable 3x3 -> 12, pixel shuffle 2): output
                               # pixels of neighbouring 4x4 blocks mix, so no 4-pixel-periodic texture
    stem_kernel: int = 0       # kernel of the first conv (0: outer_kernel); 1 with space 4 is a 4x4-patch
                               # stem (ConvNeXt, Liu et al. 2022): ~15% faster at 640x480
    # PyramidNet (fstvideo.fastnet) only; skip and the shared fields as FastNet
    pyramid: bool = False      # True (with shuffle False): the grid-free fast net. Blur + stride-2 convs to 1/8,
                               # bilinear upsampling with encoder skips back: no pixel shuffle, no patch stem,
                               # so no texture locked to a 2/4/8-px grid
    refine: int = 0            # residual blocks (dense 3x3 convs) at 1/4 and at 1/2 resolution after the
                               # decoder's skips: texture at 4- and 2-px scale, where the 1/8 blocks paint
                               # only broad strokes. Zero-initialised: a net starts as without them

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> NetConfig:
        known = {k: d[k] for k in NetConfig.__dataclass_fields__ if k in d}
        if "widths" in known:
            known["widths"] = tuple(int(w) for w in known["widths"])
        return NetConfig(**known)


# The fast CPU variant (fstvideo.fastnet.PyramidNet), trained by distillation from the full models
# (train/distill.py); see docs/fast_variant.md. Every learned conv below full resolution (blur +
# stride-2 convs to 1/8, three depthwise-separable residual blocks there, bilinear decoder with
# encoder skips, the output conv run as its four phases at 1/2), a full-resolution 1x1 skip from the
# input (sharp edges), nothing locked to the pixel grid. Files record their own NetConfig, so the
# earlier pixel-shuffle files (FastNet: shuffle=True, space=4, fine=16) still load.
FAST_CONFIG = NetConfig(widths=(16, 32, 64), blocks=3, outer_kernel=3, depthwise=True, pyramid=True, skip=True,
                        refine=1)
# The earlier fast net (fstvideo.fastnet.FastNet): a 4x4 patch stem and pixel-shuffle output, ~15%
# faster, but its texture locks to a 4/8-px grid (bench quality's lattice 0.1-0.75 on held-out frames)
SHUFFLE_CONFIG = NetConfig(widths=(16, 32, 64), blocks=3, outer_kernel=3, depthwise=True, shuffle=True, space=4,
                           stem_kernel=1, fine=16, skip=True)


class CondInstanceNorm(nn.Module):
    """Instance norm whose affine parameters are a weighted mix of per-style parameters.

    ``weight``, ``bias``: ``n_styles x C``. ``mix``: ``n_styles`` (one blend for the batch) or
    ``B x n_styles`` (one per sample), rows summing to 1.
    """

    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_styles, channels))
        self.bias = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        scale = mix @ self.weight  # C or BxC
        shift = mix @ self.bias
        scale = scale.view(1, -1, 1, 1) if scale.dim() == 1 else scale[:, :, None, None]
        shift = shift.view(1, -1, 1, 1) if shift.dim() == 1 else shift[:, :, None, None]
        if x.dtype == torch.float32 and not torch.is_grad_enabled():
            # Inference: two-pass statistics with plain reductions, normalisation and affine in
            # place on the centred copy. Eager on a 2-core CPU: ~2-3x faster than instance_norm
            # (its statistics kernel is single-threaded; torch.var_mean is slower still).
            d = x - x.mean(dim=(2, 3), keepdim=True)
            var = d.square().mean(dim=(2, 3), keepdim=True)
            return d.mul_(scale * torch.rsqrt(var + 1e-5)).add_(shift)
        x = F.instance_norm(x, eps=1e-5)  # fp32 statistics under autocast, differentiable
        return x * scale.to(x.dtype) + shift.to(x.dtype)


class ConvLayer(nn.Module):
    """Reflection pad + conv (optionally depthwise-separable) + optional CIN + optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, n_styles: int = 1,
                 norm: bool = True, relu: bool = True, depthwise: bool = False):
        super().__init__()
        self.pad = kernel // 2
        self.stride = stride
        self.dw: nn.Conv2d | None = None  # depthwise: a per-channel spatial conv, then a 1x1 conv
        if depthwise:
            self.dw = nn.Conv2d(cin, cin, kernel, stride, groups=cin, bias=False)
            self.conv = nn.Conv2d(cin, cout, 1)
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm = CondInstanceNorm(cout, n_styles) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        if self.dw is not None:
            x = self.dw(x)
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, mix)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """Two 3x3 conv layers with an identity shortcut (He et al. 2016), no ReLU after the sum."""

    def __init__(self, channels: int, n_styles: int, depthwise: bool):
        super().__init__()
        self.a = ConvLayer(channels, channels, 3, n_styles=n_styles, depthwise=depthwise)
        self.b = ConvLayer(channels, channels, 3, n_styles=n_styles, relu=False, depthwise=depthwise)

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, mix), mix)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Depthwise 3x3 binomial blur ([1,2,1] x [1,2,1] / 16) of BxCxHxW, reflection padded: the
    low-pass before a stride-2 conv, so the subsampling does not alias (Zhang 2019)."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


class StyleNet(nn.Module):
    """What every style net shares: its ``config``, ``multiple`` (H and W must be multiples of it),
    the default style blend ``mix`` and :meth:`output_parameters`."""

    mix: torch.Tensor  # buffer: the n_styles blend used when forward() gets no mix
    multiple: int

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        # Current blend of styles for calls without an explicit ``mix`` (one-hot on style 0).
        self.register_buffer("mix", F.one_hot(torch.tensor(0), config.n_styles).float(), persistent=False)

    def output_parameters(self) -> list[nn.Parameter]:
        """The parameters of the layer that emits the image (what ``out_lr_scale`` scales in training)."""
        raise NotImplementedError

    def set_mix(self, weights: torch.Tensor | list[float]) -> None:
        """Set the default style blend: ``n_styles`` non-negative weights (normalised here)."""
        w = torch.as_tensor(weights, dtype=torch.float32).flatten()
        if w.numel() != self.config.n_styles or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"need {self.config.n_styles} non-negative weights with a positive sum")
        self.mix.copy_(w / w.sum())


class JohnsonNet(StyleNet):
    """Johnson et al. 2016: a ``outer_kernel`` conv, two stride-2 convs, ``blocks`` residual blocks
    at 1/4 resolution, two x2 upsampling convs and a ``outer_kernel`` conv to RGB; ``multiple`` 4.
    Reads ``widths``, ``blocks``, ``outer_kernel``, ``depthwise``, ``n_styles`` and ``smooth``."""

    multiple = 4

    def __init__(self, config: NetConfig = NetConfig()):
        if config.shuffle or config.pyramid:
            raise ValueError("a fast (shuffle or pyramid) architecture: use build_net")
        super().__init__(config)
        c1, c2, c3 = config.widths
        n, k = config.n_styles, config.outer_kernel
        self.res = nn.ModuleList([ResidualBlock(c3, n, config.depthwise) for _ in range(config.blocks)])
        self.down = nn.ModuleList([
            ConvLayer(3, c1, k, n_styles=n),
            ConvLayer(c1, c2, 3, stride=2, n_styles=n),
            ConvLayer(c2, c3, 3, stride=2, n_styles=n),
        ])
        self.up = nn.ModuleList([ConvLayer(c3, c2, 3, n_styles=n), ConvLayer(c2, c1, 3, n_styles=n)])
        self.out = ConvLayer(c1, 3, k, norm=False, relu=False)

    def output_parameters(self) -> list[nn.Parameter]:
        """The last conv (``out``: ``widths[0]`` channels -> RGB)."""
        return list(self.out.parameters())

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: Bx3xHxW in [0, 1], H and W multiples of 4. ``mix``: n_styles or Bxn_styles."""
        m = self.mix if mix is None else mix
        smooth = self.config.smooth
        for layer in self.down:
            if smooth and layer.stride == 2:
                x = _blur(x)
            x = layer(x, m)
        for block in self.res:
            x = block(x, m)
        for layer in self.up:
            x = (F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
                 if smooth else F.interpolate(x, scale_factor=2.0, mode="nearest"))
            x = layer(x, m)
        return self.out(x, m)


def build_net(config: NetConfig = NetConfig()) -> StyleNet:
    """The net ``config`` describes, freshly initialised: a :class:`~fstvideo.fastnet.PyramidNet`
    when ``config.pyramid``, a :class:`~fstvideo.fastnet.FastNet` when ``config.shuffle``, else a
    :class:`JohnsonNet`. Load a style file's weights into it."""
    if config.shuffle or config.pyramid:
        from .fastnet import FastNet, PyramidNet  # fastnet imports this module's layers
        return PyramidNet(config) if config.pyramid else FastNet(config)
    return JohnsonNet(config)
