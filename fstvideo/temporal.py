"""Runtime temporal smoothing: a stage that removes the frame-to-frame flicker of a per-frame
stylizer without ghosting moving objects or washing out its strokes.

For each frame, the previous *output* is warped onto the current frame by the optical flow of
the *input* frames (backward flow t -> t-1, :mod:`fstvideo.flow`) and blended with the current
stylized frame, ``out = a * warped_prev_out + (1 - a) * stylized``, with a per-pixel weight
``a = strength * confidence``. Confidence is 0 where the flow cannot be trusted:

- occlusions and flow errors, by the forward-backward test of Ruder et al. 2016 ("Artistic
  Style Transfer for Videos"), the same test that masks the warping error of Lai et al. 2018;
- pixels whose *input* colour changed after warping (moving objects the flow missed, lighting
  changes), a soft ramp between ``color_low`` and ``color_high``, so nothing ghosts;
- everything, at scene cuts (grey thumbnails differ by more than ``cut_threshold``) and when
  the flow fails (fewer than ``min_reliable`` of the pixels pass the test): the state resets
  and the output is the stylized frame itself.

Still camera (median flow under ``still_px``): flows under ``still_px`` are zeroed, so a still
background is copied, not resampled, and the plain blend above is the output. The stylized
strokes there are the same from frame to frame, so blending keeps them and removes only the
flicker (bigbuckbunny frames 85-124 at 384x216: E_warp 0.3x per-frame at 1.1x its VGG16 style
loss).

Moving camera: a fast net repaints its pixel-scale strokes in every frame and bilinear
resampling blurs the warped ones, so a plain blend averages two unrelated textures and the
strokes fade (style loss 1.6x at E_warp 0.3x on a pan). Two corrections from
:mod:`fstvideo.texture` keep them: the warped output is sharpened by the amount bilinear
resampling blurred it (:func:`~fstvideo.texture.unblur`), and the blend's high band is scaled
back to the stylized frame's local contrast (:func:`~fstvideo.texture.restore_contrast`, the
variance-preserving blend of Heitz and Neyret 2018). Both run inside the recursion: the state
keeps its strokes, and the contrast match pins its energy to the stylized frame's, so the
sharpening can never build up.

Flow is computed at ``flow_size`` px (DIS "medium", 213x160 for a 640x480 frame) and
upsampled. Unlike an exponential moving average of outputs (the usual ``--smooth``), a stable
region stays stable while the camera moves, and moving regions neither smear nor ghost.
Measured, as a curve over strengths against EMA's, with ``fstvideo bench temporal``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import OptionsError
from .flow import PRESETS, FlowEstimator, consistent, gray, pixel_grid, shrink, thumb_change, thumbnail, warp
from .frames import check_frame
from .texture import restore_contrast, unblur

_MEAN_RGB = np.full((1, 3), 1.0 / (3 * 255), np.float32)  # 3 channels uint8 -> their mean in [0,1]


@dataclass(frozen=True)
class SmoothOptions:
    strength: float = 0.9        # weight of the warped previous output where confidence is 1: 0 = off
                                 # (per-frame output), 0.9 ~ 10 frames of memory, 1 = freeze stable
                                 # regions; see the README's table for E_warp and style loss
    still_scale: float = 0.78    # still camera: the weight is strength x this. There the strokes are
                                 # copied, not repainted, and no contrast is restored, so a lower
                                 # weight removes the flicker at less style loss (0.7: E_warp 0.32x
                                 # at 1.09x style loss on bigbuckbunny 85-124; 0.9: 0.26x at 1.17x)
    flow_size: int = 224         # px, longest side at which flow is computed (then upsampled); cost ~ size^2
    preset: str = "medium"       # DIS preset (see fstvideo.flow); "fast" costs a quarter but tracks too
                                 # coarsely for the strokes (E_warp 0.65x instead of 0.46x on a pan)
    fb_alpha1: float = 0.01      # forward-backward test, relative term (Ruder et al. 2016)
    fb_alpha2: float = 0.5       # forward-backward test, absolute term, px^2 at flow resolution
    color_low: float = 0.05      # mean abs RGB change in [0,1] of the warped previous input below
                                 # which a pixel is fully trusted (noise, compression)
    color_high: float = 0.15     # ... above which it is not trusted at all (moving object, new light)
    color_blur: int = 1          # px radius of a box blur at flow resolution before the colour test, so
                                 # sub-pixel resampling of fine texture does not read as a change
    cut_threshold: float = 0.18  # mean abs difference in [0,1] of 32 px grey thumbnails: above = scene cut
    min_reliable: float = 0.25   # fraction of pixels passing the forward-backward test below which
                                 # the flow is taken to have failed (treated as a cut)
    still_px: float = 0.25       # px at the output size: when the camera's motion (the median flow) is
                                 # below this, flows below it are set to zero, so a static background
                                 # is copied, not resampled (sub-pixel flow noise would blur it a
                                 # little every frame); 0 = always warp
    max_gain: float = 2.0        # moving camera: most the blend's high band is scaled up (or 1/x down)
                                 # to the stylized frame's local contrast; 1 = plain blend
    unblur: float = 0.5          # moving camera: sharpening of the warped output, as a fraction of the
                                 # bilinear blur d(1-d) of a d px shift; 0.5 undoes it to second order
                                 # and never amplifies a frequency, 0 = off

    def validate(self) -> SmoothOptions:
        if not 0.0 <= float(self.strength) <= 1.0:
            raise OptionsError(f"smoothing strength must be in [0, 1], got {self.strength}")
        if int(self.flow_size) < 8:
            raise OptionsError(f"flow size must be at least 8 px, got {self.flow_size}")
        if self.preset not in PRESETS:
            raise OptionsError(f"unknown flow preset '{self.preset}' ({', '.join(PRESETS)})")
        if self.still_px < 0:
            raise OptionsError(f"still_px must be >= 0, got {self.still_px}")
        if not 0.0 <= self.still_scale <= 1.0:
            raise OptionsError(f"still_scale must be in [0, 1], got {self.still_scale}")
        if not self.max_gain >= 1.0 or not 0.0 <= self.unblur <= 1.0:
            raise OptionsError(f"need max_gain >= 1 and unblur in [0, 1], got {self.max_gain}, {self.unblur}")
        if int(self.color_blur) < 0:
            raise OptionsError(f"color blur must be >= 0 px, got {self.color_blur}")
        if not 0.0 <= self.color_low < self.color_high:
            raise OptionsError(f"need 0 <= color_low < color_high, got {self.color_low}, {self.color_high}")
        if self.fb_alpha1 < 0 or self.fb_alpha2 < 0 or self.cut_threshold < 0 \
                or not 0.0 <= self.min_reliable <= 1.0:
            raise OptionsError("flow thresholds must be non-negative (min_reliable in [0, 1])")
        return self


class Smoother:
    """``Smoother(options)(input_frame, stylized_frame) -> frame``; ``reset()``.

    Frames are HxWx3 uint8 RGB; the output has the stylized frame's size (the input may differ
    in size: the flow is rescaled). One instance per stream; inputs are never modified.
    """

    def __init__(self, options: SmoothOptions = SmoothOptions()):
        self.options = options.validate()
        self._flow = FlowEstimator(options.preset)
        # Full-size float32 work arrays, reused from frame to frame: fresh multi-MB arrays cost a
        # page fault per 4 KB on first touch (~1000 a frame at 640x480, ~3 ms of system time).
        self._buffers: dict[str, np.ndarray] = {}
        self.reset()

    def set_options(self, options: SmoothOptions) -> None:
        """Swap options (e.g. from a GUI slider); takes effect on the next frame, keeps state."""
        options.validate()
        if options.preset != self.options.preset:
            self._flow = FlowEstimator(options.preset)
        if options.flow_size != self.options.flow_size:
            self.reset()
        self.options = options

    def reset(self) -> None:
        """Forget the previous frame: the next output is its stylized frame unchanged."""
        self._prev_small: np.ndarray | None = None   # hxwx3 uint8, previous input at flow size
        self._prev_gray: np.ndarray | None = None    # hxw uint8, its luma
        self._prev_thumb: np.ndarray | None = None   # float32 thumbnail in [0,1] for cut detection
        self._prev_out: np.ndarray | None = None     # HxWx3 float32 in [0,255], previous output
        self._prev_shape: tuple | None = None        # (input shape, stylized shape)
        self.last_cut = False                        # whether the last call reset (for tests/UI)
        self.last_confidence: float = 0.0            # mean confidence of the last call, in [0,1]

    def _restart(self, small, g, thumb, stylized, shape) -> np.ndarray:
        self._prev_small, self._prev_gray, self._prev_thumb = small, g, thumb
        self._prev_out = stylized.astype(np.float32)
        self._prev_shape = shape
        self.last_cut, self.last_confidence = True, 0.0
        return stylized.copy()

    def confidence(self, small: np.ndarray, g: np.ndarray, o: SmoothOptions
                   ) -> tuple[np.ndarray, np.ndarray, float]:
        """(hxw float32 confidence in [0,1], hxwx2 backward flow, fraction passing the
        forward-backward test) of the current small input against the stored previous one."""
        assert self._prev_gray is not None and self._prev_small is not None  # set by _restart
        back = self._flow(g, self._prev_gray)
        fwd = self._flow(self._prev_gray, g)
        ok = consistent(back, fwd, o.fb_alpha1, o.fb_alpha2)
        reliable = cv2.countNonZero(ok.view(np.uint8)) / ok.size
        # Colour test on the inputs: the previous input warped by the same flow must look like
        # the current one, else the flow missed a motion and the previous output would ghost.
        prev = warp(self._prev_small, back)
        if o.color_blur:
            k = (2 * o.color_blur + 1,) * 2
            prev, cur = cv2.blur(prev, k), cv2.blur(small, k)
        else:
            cur = small
        change = cv2.transform(cv2.absdiff(prev, cur).astype(np.float32), _MEAN_RGB)  # hxw
        conf = np.clip((o.color_high - change) / (o.color_high - o.color_low), 0.0, 1.0)
        conf *= ok
        # Flow is least reliable next to occlusion edges: shrink trusted areas by a pixel, then
        # soften the mask so the blend has no seams once upsampled.
        conf = cv2.erode(conf, np.ones((3, 3), np.uint8))
        conf = cv2.blur(conf, (3, 3))
        return conf, back, reliable

    def _flow_to(self, back: np.ndarray, size: tuple[int, int], o: SmoothOptions
                 ) -> tuple[np.ndarray, tuple[float, float] | None]:
        """(the small backward flow at the output size ``(H, W)`` in output pixels, the camera's
        motion (median flow, output px) or None for a still camera). Scaled while small: a
        quarter of the work. With a still camera the flows under ``still_px`` are zeroed: that
        background is copied, not resampled."""
        H, W = size
        h, w = back.shape[:2]
        back = back * np.array([W / w, H / h], dtype=np.float32)
        camera = np.median(back.reshape(-1, 2), axis=0)
        still = o.still_px > 0 and float(camera @ camera) < o.still_px ** 2
        if still:
            back[back[..., 0] ** 2 + back[..., 1] ** 2 < o.still_px ** 2] = 0.0
        flow = back if (h, w) == (H, W) else cv2.resize(back, (W, H), interpolation=cv2.INTER_LINEAR)
        return flow, None if still else (float(camera[0]), float(camera[1]))

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        b = self._buffers.get(name)
        if b is None or b.shape != shape:
            b = self._buffers[name] = np.empty(shape, np.float32)
        return b

    def __call__(self, input_frame: np.ndarray, stylized_frame: np.ndarray) -> np.ndarray:
        check_frame(input_frame)
        check_frame(stylized_frame)
        o = self.options  # one snapshot per frame: set_options may swap it from another thread
        shape = (input_frame.shape, stylized_frame.shape)
        small = shrink(input_frame, o.flow_size)
        g = gray(small)
        thumb = thumbnail(g)
        if o.strength <= 0 or self._prev_out is None or self._prev_thumb is None \
                or shape != self._prev_shape or thumb_change(thumb, self._prev_thumb) > o.cut_threshold:
            return self._restart(small, g, thumb, stylized_frame, shape)
        conf, back, reliable = self.confidence(small, g, o)
        if reliable < o.min_reliable:
            return self._restart(small, g, thumb, stylized_frame, shape)
        H, W, _ = full = stylized_frame.shape
        flow, camera = self._flow_to(back, (H, W), o)
        coords = cv2.add(pixel_grid(H, W), flow, dst=self._buffer("coords", (H, W, 2)))
        warped = cv2.remap(self._prev_out, coords, None, cv2.INTER_LINEAR, dst=self._buffer("warped", full),
                           borderMode=cv2.BORDER_REPLICATE)
        if camera is not None and o.unblur > 0:
            warped = unblur(warped, camera, o.unblur, dst=self._buffer("sharp", full))
        weight = o.strength * (o.still_scale if camera is None else 1.0)
        alpha = cv2.resize(conf * np.float32(weight), (W, H), dst=self._buffer("alpha", (H, W)),
                           interpolation=cv2.INTER_AREA if conf.shape[0] > H else cv2.INTER_LINEAR)
        styled = self._buffer("styled", full)
        styled[...] = stylized_frame
        # out = a * warped + (1 - a) * stylized, in float32 so slow changes are not lost to uint8
        # rounding of the state (blendLinear: one pass instead of five numpy ones). The previous
        # output has been warped: its array takes the new state.
        # numpy, not cv2.subtract: OpenCV reads a 1x1 array as a scalar
        beta = np.subtract(np.float32(1), alpha, out=self._buffer("beta", (H, W)))
        out = cv2.blendLinear(warped, styled, alpha, beta, dst=self._prev_out)
        if camera is not None:
            out = restore_contrast(out, styled, o.max_gain, self._buffers)
        self._prev_small, self._prev_gray, self._prev_thumb = small, g, thumb
        self._prev_out = out
        self.last_cut, self.last_confidence = False, float(conf.mean())
        return cv2.convertScaleAbs(out)  # round and saturate to uint8 (values are >= 0)
