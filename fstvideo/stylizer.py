"""The stylizer stage: frame in, frame out (HxWx3 uint8 RGB, see ``fstvideo.frames``).

It owns everything between a frame and the transformer net: device and precision, padding to
the net's multiple, processing at a reduced size, colour preservation and strength, and frames
over the pixel budget in overlapping tiles (:mod:`fstvideo.tiles`). Settings can be swapped from
another thread (the GUI) and take effect on the next call.

Colour preservation follows Gatys et al. 2016 ("Preserving Color in Neural Artistic Style
Transfer"), luminance-only transfer: the output keeps the input's chroma (BT.601 YUV) and takes
the stylized luminance, which is the same as adding ``Y_stylized - Y_input`` to every channel.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import OptionsError
from .frames import check_frame, luma, to_frames, to_tensor
from .guided import guided_upsample, resize_area
from .model import StyleNet
from .stylemeta import PHOTO_SLOT, trained_scale
from .styles import Style, load_style, processing_size
from .tiles import ThumbnailNorms, finish_in_strips, stylize_tiled

# Smallest side the net sees: two stride-2 convs then 3x3 reflect pads need >= 2 px at 1/4 scale,
# and the 9x9 reflect pad needs > 4 px at full scale.
_MIN_SIDE = 16


@dataclass(frozen=True)
class StylizerOptions:
    device: str = "auto"          # "auto" (CUDA if present, else CPU), "cpu", "cuda"
    precision: str = "auto"       # "auto" (CUDA: fp16, CPU: fp32), "fp32", "bf16", "fp16"
    strength: float = 1.0         # 1 = full style; 0 = the input (pixels) or the photo slot's content look (norm)
    strength_mode: str = "pixels" # "pixels": mix output and input pixels (sharp photo detail at every
                                  # strength); "norm": interpolate the norm parameters toward the file's
                                  # "photo" slot (docs/strength.jpg: with our CPU-trained slots it blurs)
    preserve_color: bool = False  # keep the input's chroma, stylize luminance only
    max_size: int | None = None   # longest side (px) the net sees; output is returned at input size
    scale: float | None = None    # resolution the net sees relative to the input (0.5: half width/height);
                                  # None = the scale the style file was trained for (stylemeta.trained_scale:
                                  # 1 for every bundled file), or 1 when max_size is set
    stroke: float = 1.0           # brush size: larger inputs are shrunk so that their longest side is the
                                  # style's processing size / stroke (px) before the net sees them, so
                                  # strokes keep the painting's scale relative to the frame (2: twice as
                                  # large, 0.5: finer); 0 = always the full input size. Files without a
                                  # processing size are not shrunk
    upsample: str = "guided"      # back to input size after downscaling: "guided" (edge-aware) or "bilinear"
    compile: bool = False         # torch.compile with inductor freezing (first call per size is slow)
    blend: tuple[tuple[str, float], ...] = ()  # multi-style files: (style name, weight) pairs; () = first style
    max_pixels: int = 2_100_000   # pixel budget: frames with more pixels (1080p has 2.07M) are stylized in
                                  # overlapping tiles of at most this many (fstvideo.tiles). Johnson's net
                                  # holds ~0.9 KB a pixel on a CPU (fp32), so ~1.9 GB here: sized for a
                                  # 4 GB machine. Memory then stays flat however large the frame
    tile_overlap: int = 96        # px (at the net's scale) neighbouring tiles share and cross-fade: with the
                                  # bundled nets tiled output is then within 6 levels of one pass (64: 14)

    def validate(self) -> StylizerOptions:
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise OptionsError(f"unknown device '{self.device}' (auto, cpu, cuda)")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise OptionsError(f"unknown precision '{self.precision}' (auto, fp32, bf16, fp16)")
        if not 0.0 <= float(self.strength) <= 1.0:
            raise OptionsError(f"strength must be in [0, 1], got {self.strength}")
        if self.scale is not None and not 0.05 <= float(self.scale) <= 1.0:
            raise OptionsError(f"scale must be in [0.05, 1], got {self.scale}")
        if self.strength_mode not in ("norm", "pixels"):
            raise OptionsError(f"unknown strength mode '{self.strength_mode}' (pixels, norm)")
        if self.upsample not in ("guided", "bilinear"):
            raise OptionsError(f"unknown upsampling '{self.upsample}' (guided, bilinear)")
        if not (self.stroke == 0 or 0.1 <= float(self.stroke) <= 10):
            raise OptionsError(f"stroke must be 0 (full size) or in [0.1, 10], got {self.stroke}")
        if int(self.max_pixels) < 32 * 32 or int(self.tile_overlap) < 0:
            raise OptionsError(f"max pixels must be at least 1024 and tile overlap >= 0, got "
                               f"{self.max_pixels}, {self.tile_overlap}")
        if self.max_size is not None and int(self.max_size) < _MIN_SIDE:
            raise OptionsError(f"max size must be at least {_MIN_SIDE} px, got {self.max_size}")
        return self


@functools.cache
def tune_malloc() -> bool:
    """Keep freed blocks of up to 32 MiB in glibc's heap (process-wide, once; False elsewhere).

    Eager PyTorch on CPU allocates a fresh output for every op; glibc serves blocks over its mmap
    threshold (128 KiB at first) with fresh pages and unmaps them on free, so each op on a
    feature map paid page faults to zero its output first. Measured on the 2-core CPU: the fast
    path's instance norms ran 2-10x slower, bimodally; a fast-path 640x480 frame took 54 ms (median,
    eager) with glibc's defaults and 38 ms with this, other things equal.
    Same as running with ``MALLOC_MMAP_THRESHOLD_=33554432``; memory stays at its peak instead
    of being returned between frames.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionsError("CUDA was requested but no CUDA device is available (use --device cpu)")
    return torch.device(name)


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad Bx3xHxW on the bottom/right to a multiple of ``multiple`` and at least _MIN_SIDE."""
    h, w = x.shape[-2:]
    ph = max(-(-h // multiple) * multiple, _MIN_SIDE) - h
    pw = max(-(-w // multiple) * multiple, _MIN_SIDE) - w
    if ph or pw:
        # Reflection keeps edge statistics natural; it needs pad < size, so tiny frames replicate.
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


def _finish(y: torch.Tensor, x: torch.Tensor, options: StylizerOptions, pixel_strength: bool) -> torch.Tensor:
    """Colour preservation and pixel strength: the stylized ``y`` against the input ``x`` (Bx3xHxW)."""
    if options.preserve_color:
        y = x + (luma(y) - luma(x))
    if options.strength < 1.0 and pixel_strength:
        y = torch.lerp(x, y, float(options.strength))
    return y


def net_scale(style: Style, options: StylizerOptions) -> float:
    """The resolution the net sees relative to the input before the stroke size and max_size
    shrink it further: ``options.scale``, else the scale the file was trained for."""
    if options.scale is not None:
        return float(options.scale)
    return 1.0 if options.max_size else trained_scale(style)


def stroke_scale(style: Style, options: StylizerOptions, h: int, w: int) -> float:
    """The input scale (<= 1) at which an ``h`` x ``w`` frame shows the style's strokes at the
    brush size ``options.stroke``: its longest side becomes the style's processing size / stroke."""
    size = processing_size(style)
    if not size or not options.stroke:
        return 1.0
    return min(1.0, size / (float(options.stroke) * max(h, w)))


def effective_mix(style: Style, options: StylizerOptions) -> tuple[torch.Tensor, bool]:
    """The ``n_styles`` mix the net runs with, and whether strength still needs pixel mixing.

    With strength mode norm (the file needs a "photo" slot), strength ``s`` moves the blend toward that
    slot: ``mix = s * blend + (1 - s) * photo`` (Dumoulin et al. 2017, Fig. 7: interpolating the
    normalisation parameters between styles). Otherwise the blend as is, and pixels are mixed.
    """
    w = blend_weights(style, options.blend)
    use_norm = options.strength_mode == "norm" and PHOTO_SLOT in style.styles
    if options.strength_mode == "norm" and not use_norm:
        raise OptionsError(f"style '{style.name}' has no '{PHOTO_SLOT}' slot for --strength-mode norm")
    if use_norm and options.strength < 1.0:
        photo = torch.nn.functional.one_hot(torch.tensor(style.styles.index(PHOTO_SLOT)), len(style.styles))
        w = float(options.strength) * w + (1.0 - float(options.strength)) * photo.float()
    return w, not use_norm


def blend_weights(style: Style, blend: tuple[tuple[str, float], ...]) -> torch.Tensor:
    """(name, weight) pairs -> an ``n_styles`` weight vector summing to 1. Validates names."""
    n = len(style.styles)
    if not blend:
        return torch.nn.functional.one_hot(torch.tensor(0), n).float()
    w = torch.zeros(n)
    for name, weight in blend:
        if name not in style.styles:
            raise OptionsError(f"unknown style '{name}' in blend (known: {', '.join(style.styles)})")
        if not weight >= 0:
            raise OptionsError(f"blend weights must be non-negative, got {name}:{weight}")
        w[style.styles.index(name)] += float(weight)
    if float(w.sum()) <= 0:
        raise OptionsError("blend weights must not all be zero")
    return w / w.sum()


class Stylizer:
    """``Stylizer(style, options)(frame) -> frame``; also ``batch(frames)``."""

    def __init__(self, style: Style | str | os.PathLike, options: StylizerOptions = StylizerOptions()):
        self._lock = threading.Lock()
        self.options = options.validate()
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(options.precision, self.device)
        if self.device.type == "cpu":
            tune_malloc()
        self._compiled: Callable[..., torch.Tensor] | None = None  # torch.compile'd net, made on first use
        self._set_style(style)

    # -- settings, swappable from another thread ---------------------------------------------
    def _set_style(self, style: Style | str | os.PathLike) -> None:
        style = style if isinstance(style, Style) else load_style(style)
        net = style.build(self.device)
        if self.device.type == "cuda":
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub omits it
            torch.backends.cudnn.benchmark = True
        with self._lock:  # mix from the options current under the lock: a concurrent set_options can't be lost
            mix, pixels = effective_mix(style, self.options)
            self.style, self.net, self._compiled = style, net, None
            self._mix, self._pixel_strength = mix.to(self.device), pixels

    def set_style(self, style: Style | str | os.PathLike) -> None:
        """Load (outside the lock) and swap the style; the next call uses it."""
        self._set_style(style)

    def set_options(self, options: StylizerOptions) -> None:
        """Swap strength/colour/size/blend; device and precision changes rebuild the net."""
        options.validate()
        device = pick_device(options.device)
        with self._lock:
            mix, pixels = effective_mix(self.style, options)  # the style current under the lock
            rebuild = device != self.device or pick_dtype(options.precision, device) != self.dtype \
                or options.compile != self.options.compile
            self.options = options
            if rebuild:
                self.device, self.dtype = device, pick_dtype(options.precision, device)
                self.net, self._compiled = self.style.build(device), None
            # Passed to the net as an input on every call: a compiled (frozen) graph would have
            # folded a buffer into a constant, and blends must change live without recompiling.
            self._mix, self._pixel_strength = mix.to(self.device), pixels

    @property
    def scale(self) -> float:
        """The resolution the net sees relative to the input (before stroke size and max_size):
        the options' scale, else the one the current style was trained for."""
        with self._lock:
            return net_scale(self.style, self.options)

    # -- inference -------------------------------------------------------------------------
    def _model(self, net: StyleNet, options: StylizerOptions) -> Callable[..., torch.Tensor]:
        if not options.compile:
            return net
        if self._compiled is None:
            import torch._inductor.config as inductor_config
            # Freezing folds the (frozen) weights into the graph: constant-folded, pre-packed convs.
            inductor_config.freezing = True
            self._compiled = torch.compile(net, dynamic=False)
        return self._compiled

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.batch([frame])[0]

    def batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Stylize frames; same-sized frames share one forward pass. Inputs are not modified."""
        out: list[np.ndarray | None] = [None] * len(frames)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(check_frame(f).shape[:2], []).append(i)
        for idx in groups.values():
            for i, y in zip(idx, self._forward([frames[i] for i in idx])):
                out[i] = y
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _forward(self, frames: list[np.ndarray], tile: tuple | None = None) -> np.ndarray:
        """``tile``: (net, options, device, mix, pixel strength, scale) fixed for the whole frame
        when ``frames`` is one tile of it (see _tiled)."""
        h, w = frames[0].shape[:2]
        if tile is None:
            with self._lock:  # a consistent snapshot of style, net and options for this call
                style, net, options, device = self.style, self.net, self.options, self.device
                mix, pixel_strength = self._mix, self._pixel_strength
                model = self._model(net, options)
            s = min(net_scale(style, options), options.max_size / max(h, w) if options.max_size else 1.0,
                    stroke_scale(style, options, h, w))
            if h * w > options.max_pixels:
                return np.stack([self._tiled(f, net, options, device, mix, pixel_strength, s) for f in frames])
        else:
            net, options, device, mix, pixel_strength, s = tile
            model = net
        x = to_tensor(frames, device)  # Bx3xHxW fp32 [0,1]
        small = x
        if s < 1.0:
            size = (max(1, round(h * s)), max(1, round(w * s)))
            small = resize_area(x, size)
        xp, sh, sw = _pad_to(small, net.multiple)
        if device.type == "cuda":
            xp = xp.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = model(xp, mix)
        y = y.float()[..., :sh, :sw]
        if y.shape[-2:] != (h, w) or options.preserve_color or (options.strength < 1.0 and pixel_strength):
            y = y.clamp(0.0, 1.0)  # the stylized image as shown, before mixing (else to_frames clamps)
        if y.shape[-2:] != (h, w):
            if options.upsample == "guided" and min(sh, sw) >= 8:
                y = guided_upsample(y, small, x)  # may overshoot [0,1] a little: to_frames clamps
            else:
                y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return to_frames(_finish(y, x, options, pixel_strength))

    def _tiled(self, frame: np.ndarray, net: StyleNet, options: StylizerOptions, device: torch.device,
               mix: torch.Tensor, pixel_strength: bool, s: float) -> np.ndarray:
        """A frame over the pixel budget (the net sees it at scale ``s``): overlapping tiles within
        the budget, their instance norms using the statistics of a thumbnail of the whole frame;
        shrunk first when ``s`` < 1 (fstvideo.tiles)."""
        h, w = frame.shape[:2]
        if s < 1.0:  # the net sees the frame shrunk: stylize that whole, back to full size in strips
            small = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            raw = replace(options, preserve_color=False, strength=1.0)  # colour and strength at full size
            sh, sw = small.shape[:2]
            styled = (self._tiled(small, net, raw, device, mix, pixel_strength, 1.0) if sh * sw > options.max_pixels
                      else self._forward([small], (net, raw, device, mix, pixel_strength, 1.0))[0])
            return finish_in_strips(frame, small, styled, options.max_pixels,
                                    options.upsample == "guided" and min(sh, sw) >= 8,
                                    lambda y, x: _finish(y, x, options, pixel_strength), device)
        t = min(1.0, math.sqrt(options.max_pixels / (h * w)))  # thumbnail scale: within the budget
        thumb = cv2.resize(frame, (max(1, round(w * t)), max(1, round(h * t))), interpolation=cv2.INTER_AREA)
        norms = ThumbnailNorms(net)
        xp, _, _ = _pad_to(to_tensor(thumb, device), net.multiple)
        with self._autocast():
            norms.measure(xp, mix)
        fixed = (norms.net, options, device, mix, pixel_strength, 1.0)
        return stylize_tiled(frame, lambda part: self._forward([part], fixed)[0], math.isqrt(int(options.max_pixels)),
                             options.tile_overlap, net.multiple)
