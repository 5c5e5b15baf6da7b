"""Keeping a stylized texture's contrast through temporal blending, for :mod:`fstvideo.temporal`.

Blending the previous output, warped by the flow, into the current stylized frame stabilises
what the two share and averages away what they do not. Under camera motion the fine strokes
of a stylized frame are largely *not* shared (the net repaints them, bilinear resampling blurs
the warped ones), and averaging two unrelated textures of equal contrast leaves
``sqrt(a^2 + (1-a)^2)`` of it (0.76 at a = 0.7): the strokes wash out, and a VGG16 style loss
reads that as lost style. Two corrections restore it:

- :func:`unblur`: bilinear resampling by a fraction ``d`` of a pixel is the filter
  ``[1-d, d]``, whose response loses ``d(1-d)/2 * w^2`` at low frequencies ``w``; the 3-tap
  ``[-c, 1+2c, -c]`` with ``c = k d(1-d)`` gives back ``c w^2``, so ``k = 0.5`` undoes the loss
  to second order and amplifies no frequency (``k = 0.5`` is the largest that never does).
- :func:`restore_contrast`: the variance-preserving blend of texture synthesis (Heitz and
  Neyret 2018, "High-Performance By-Example Noise using a Histogram-Preserving Blending
  Operator"): the blend's high band (the image minus its 5-tap Gaussian pyramid level) is
  scaled so that its local energy matches the stylized frame's, ``gain = sqrt(E_styled /
  E_blend)`` over 10 px windows, clipped to ``[1/max_gain, max_gain]``. Where the two frames
  agree (a still scene) the gain is 1 and nothing changes; where they are unrelated it is
  ``1/sqrt(a^2 + (1-a)^2)``.

Both work on HxWx3 float32 frames in [0, 255] (any size; frames under ``MIN_SIDE`` px are left
as they are) and use float32 throughout; statistics are taken on every second pixel (quarter
of the work), the gain map is applied at full size by one bilinear resize and one blend.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_SIDE = 8      # px: below this a frame has no texture statistics worth keeping
ENERGY_BOX = 5    # px at half size (10 px at full size): window of the local energies
ENERGY_EPS = 1.0  # levels^2 summed over RGB: keeps flat areas (no texture) at gain ~1
_SUM_RGB = np.ones((1, 3), np.float32)


def unblur_taps(fraction: float, strength: float = 0.5) -> np.ndarray:
    """The 3-tap kernel ``[-c, 1+2c, -c]``, ``c = strength * d(1-d)``, that undoes (to second
    order) the blur of bilinear resampling by ``fraction`` px (its part after the point, d)."""
    d = float(fraction) - np.floor(float(fraction))
    c = strength * d * (1.0 - d)
    return np.array([-c, 1.0 + 2.0 * c, -c], dtype=np.float32)


def unblur(image: np.ndarray, shift: tuple[float, float], strength: float = 0.5,
           dst: np.ndarray | None = None) -> np.ndarray:
    """``image`` resampled by a flow whose typical value is ``shift`` = (dx, dy) px, sharpened
    by :func:`unblur_taps` along each axis. Returns ``image`` itself when there is nothing to
    undo (integer shifts, strength 0, tiny frames)."""
    kx, ky = unblur_taps(shift[0], strength), unblur_taps(shift[1], strength)
    if min(image.shape[:2]) < MIN_SIDE or (kx[0] > -1e-3 and ky[0] > -1e-3):
        return image
    return cv2.sepFilter2D(image, -1, kx, ky, dst=dst, borderType=cv2.BORDER_REPLICATE)


def _high_energy(full: np.ndarray, low: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Local energy (summed over RGB, 10 px windows) of ``full - pyrUp(low)`` on every second
    pixel: ``full[::2, ::2] - low`` is that band up to the pyramid's own interpolation."""
    np.subtract(full[::2, ::2], low, out=work)
    np.multiply(work, work, out=work)
    energy = cv2.transform(work, _SUM_RGB)
    return cv2.blur(energy, (ENERGY_BOX, ENERGY_BOX))


def restore_contrast(blend: np.ndarray, styled: np.ndarray, max_gain: float = 2.0,
                     work: dict | None = None) -> np.ndarray:
    """``blend`` (HxWx3 float32 in [0, 255]) with its high band rescaled to the local energy of
    ``styled``'s (HxWx3 float32, same size), clipped to [0, 255]; written into ``blend``, which
    is returned. ``work``: a dict of reusable arrays (kept by the caller between frames)."""
    H, W = blend.shape[:2]
    if min(H, W) < MIN_SIDE or max_gain <= 1.0:
        return blend
    work = {} if work is None else work
    low_b, low_s = cv2.pyrDown(blend), cv2.pyrDown(styled)           # (H+1)/2 x (W+1)/2 x 3
    scratch = work.get("band")
    if scratch is None or scratch.shape != low_b.shape:
        scratch = work["band"] = np.empty_like(low_b)
    e_s = _high_energy(styled, low_s, scratch)
    e_b = _high_energy(blend, low_b, scratch)
    gain = np.sqrt((e_s + ENERGY_EPS) / (e_b + ENERGY_EPS))
    np.clip(gain, 1.0 / max_gain, max_gain, out=gain)
    g = cv2.resize(gain, (W, H), interpolation=cv2.INTER_LINEAR)
    low = cv2.resize(low_b, (W, H), interpolation=cv2.INTER_LINEAR)
    # low + g * (blend - low): one weighted sum, the weights g and 1 - g add up to 1; a gain
    # above 1 can overshoot the range, so clip in place
    out = cv2.blendLinear(blend, low, g, np.subtract(np.float32(1), g), dst=blend)
    return np.clip(out, 0.0, 255.0, out=out)
