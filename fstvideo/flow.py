"""Optical flow, backward warping and the forward-backward occlusion test, on numpy frames.

Flow method: OpenCV's DIS optical flow (Kroeger et al. 2016, "Fast Optical Flow using Dense
Inverse Search"), ``cv2.DISOpticalFlow_create(preset)`` with OpenCV's preset settings:

- ``"ultrafast"``: patch 8, stride 4, finest scale a quarter of the input size, 12 descent
  steps, no variational refinement (~0.2 ms at 160x120 on the 2-core development CPU);
- ``"fast"``: as ultrafast with 16 descent steps and 5 refinement iterations (~1.3 ms at
  213x160);
- ``"medium"``: stride 3, finest scale half the input size, 25 descent steps, 5 refinement
  iterations (~5.5 ms at 213x160) -- the runtime smoother's and the benchmark's default.

Flows are computed on 8-bit grey images (BT.601 luma) and returned as ``HxWx2`` float32
``(dx, dy)`` pixel displacements. Convention: ``flow = estimate(a, b)`` maps each pixel of
``a`` to where it is in ``b``, ``a(x) ~ b(x + flow(x))``; so ``warp(b, flow)`` is ``b`` moved
onto ``a``. To bring frame t-1 onto frame t, estimate the *backward* flow ``estimate(cur, prev)``
and ``warp(prev, backward)``.

Occlusions follow Ruder et al. 2016 ("Artistic Style Transfer for Videos"), the test Lai et
al. 2018 use for their warping error: with backward flow ``w_b`` (t -> t-1) and forward flow
``w_f`` (t-1 -> t) warped onto frame t, ``w~_f(x) = w_f(x + w_b(x))``, a pixel is occluded or
unreliable where ``|w_b + w~_f|^2 > 0.01 (|w_b|^2 + |w~_f|^2) + 0.5`` (px^2), or where
``x + w_b(x)`` leaves the frame.
"""
from __future__ import annotations

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# DIS needs images wider and taller than its patch (12 px for "medium"); below this the flow
# is taken as zero, which the colour test then guards (a tiny frame has nothing to track).
MIN_FLOW_SIDE = 16


def gray(frame: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW uint8 luma (BT.601)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def fit_size(h: int, w: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is at most ``longest`` px (never enlarged), >= 1."""
    s = min(1.0, longest / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def shrink(image: np.ndarray, longest: int) -> np.ndarray:
    """Area-average ``image`` by the smallest integer factor k that brings its longest side to at
    most ``longest`` px. An integer factor (passed as fx = fy = 1/k) takes OpenCV's fast area
    path: ~0.5 ms instead of ~2 ms for 640x480 -> 213x160."""
    k = -(-max(image.shape[:2]) // max(1, longest))
    if k <= 1:
        return image
    return cv2.resize(image, None, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``(h, w)``: area averaging when shrinking (no aliasing), bilinear otherwise."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h <= image.shape[0] and w <= image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


THUMB_SIDE = 32  # px, longest side of the grey thumbnails compared for scene cuts


def thumbnail(grey: np.ndarray) -> np.ndarray:
    """HxW uint8 grey -> float32 thumbnail in [0,1], longest side THUMB_SIDE px. Two frames of
    one shot differ little at this scale even when things move; a scene cut changes everything."""
    return resize(grey, fit_size(grey.shape[0], grey.shape[1], THUMB_SIDE)).astype(np.float32) * (1.0 / 255.0)


def thumb_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in [0,1]: above ~0.18 means a scene cut."""
    return float(np.abs(a - b).mean())


class FlowEstimator:
    """``FlowEstimator(preset)(a, b) -> HxWx2`` float32 flow with ``a(x) ~ b(x + flow(x))``.

    ``a``, ``b``: same-sized HxW uint8 grey images. One instance per thread (DIS keeps buffers).
    """

    def __init__(self, preset: str = "medium"):
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset '{preset}' ({', '.join(PRESETS)})")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]  # not in the stubs

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape != b.shape or a.ndim != 2:
            raise ValueError(f"flow needs two same-sized grey images, got {a.shape} and {b.shape}")
        if min(a.shape) < MIN_FLOW_SIDE:
            return np.zeros(a.shape + (2,), np.float32)
        return self._dis.calc(a, b, None)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample an ``hxwx2`` flow to ``(H, W)`` and rescale its vectors to the new pixel units."""
    h, w = flow.shape[:2]
    H, W = size
    if (h, w) == (H, W):
        return flow
    out = cv2.resize(flow, (W, H), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= W / w
    out[..., 1] *= H / h
    return out


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def pixel_grid(h: int, w: int) -> np.ndarray:
    """HxWx2 float32 pixel coordinates (x, y); cached (a few sizes per process), read-only."""
    g = _GRIDS.get((h, w))
    if g is None:
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        g = _GRIDS[(h, w)] = np.dstack([xs, ys])
        g.flags.writeable = False
    return g


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Backward warp: ``out(x) = image(x + flow(x))``, bilinear. ``image``: HxW or HxWxC (uint8
    or float32), ``flow``: HxWx2 at the same size. Returns a new array of ``image``'s dtype;
    zero flow returns an exact copy."""
    h, w = flow.shape[:2]
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} differ in size")
    coords = cv2.add(pixel_grid(h, w), flow.astype(np.float32, copy=False))
    return cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=border)


def consistent(backward: np.ndarray, forward: np.ndarray, alpha1: float = 0.01,
               alpha2: float = 0.5) -> np.ndarray:
    """HxW bool, True where frame t's pixel is reliably visible in frame t-1.

    ``backward``: HxWx2 flow t -> t-1 (defined on frame t); ``forward``: HxWx2 flow t-1 -> t
    (defined on frame t-1). Ruder et al. 2016, eq. 7: fails where
    ``|w_b + w~_f|^2 > alpha1 (|w_b|^2 + |w~_f|^2) + alpha2``; also fails where ``x + w_b(x)``
    falls outside the frame (the pixel was not in frame t-1).
    """
    h, w = backward.shape[:2]
    fw = warp(forward, backward)  # w~_f(x) = w_f(x + w_b(x))
    tx, ty = backward[..., 0] + fw[..., 0], backward[..., 1] + fw[..., 1]
    err = tx * tx + ty * ty
    mag = backward[..., 0] ** 2 + backward[..., 1] ** 2 + fw[..., 0] ** 2 + fw[..., 1] ** 2
    ok = err <= alpha1 * mag + alpha2
    t = pixel_grid(h, w) + backward
    ok &= (t[..., 0] >= 0) & (t[..., 0] <= w - 1) & (t[..., 1] >= 0) & (t[..., 1] <= h - 1)
    return ok


def flows(estimate: FlowEstimator, prev_gray: np.ndarray, cur_gray: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """(backward t -> t-1, forward t-1 -> t) flows of two grey frames."""
    return estimate(cur_gray, prev_gray), estimate(prev_gray, cur_gray)
