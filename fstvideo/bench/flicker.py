"""The flicker measures of ``fstvideo bench temporal``, on lists of HxWx3 uint8 RGB frames.

E_warp is the warping error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency"):
for each pair of consecutive frames, output t-1 is warped onto frame t by the optical flow of
the *input* frames, occluded or unreliable pixels are masked by the forward-backward test of
Ruder et al. 2016 (``|w_b + w~_f|^2 > 0.01 (|w_b|^2 + |w~_f|^2) + 0.5``, and pixels whose flow
leaves the frame), and the mean squared error over the unmasked pixels and the three channels,
values in [0,1], is averaged over the clip's pairs. Pairs across a scene cut (32 px grey
thumbnails differ by more than 0.18 in mean, or fewer than 25% of the pixels pass the
forward-backward test) are skipped: nothing should carry over a cut, and one cut pair would
otherwise outweigh the rest of the clip.

Flow: OpenCV DIS (Kroeger et al. 2016), preset "medium" (patch 12, stride 3, variational
refinement) on BT.601 grey frames, one backward and one forward flow per pair, bilinear
``cv2.remap`` with replicated borders. The same flows and masks serve every row.

Moving objects: a reliable pixel whose backward flow differs from the frame's median flow (the
camera's motion, for a pan or a static camera) by more than ``moving_px``. Two measures there:
E_warp on those pixels only (does smoothing make moving things flicker or smear), and the mean
absolute difference to the per-frame output on them and on the occluded pixels, where a
smoother must not carry anything over (trails behind a walker show up here first).
"""
from __future__ import annotations

import numpy as np

from ..flow import FlowEstimator, consistent, flows, gray, thumb_change, thumbnail, warp
from ..temporal import SmoothOptions

# Scene cuts: the smoother's own defaults (32 px thumbnails, forward-backward pass rate).
CUT_THRESHOLD = SmoothOptions.cut_threshold
MIN_RELIABLE = SmoothOptions.min_reliable
MOVING_PX = 1.0  # px at the benchmark size, flow relative to the median flow: a moving object


def flow_pairs(frames: list[np.ndarray], preset: str = "medium", cut_threshold: float = CUT_THRESHOLD,
               min_reliable: float = MIN_RELIABLE) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each consecutive pair of input frames: (HxWx2 backward flow t -> t-1, HxW bool mask
    of reliable pixels of frame t). ``len(frames) - 1`` entries. A pair across a scene cut
    gets an empty mask: nothing carries over a cut, and the metric skips it."""
    estimate = FlowEstimator(preset)
    greys = [gray(f) for f in frames]
    thumbs = [thumbnail(g) for g in greys]
    out = []
    for t in range(1, len(frames)):
        back, fwd = flows(estimate, greys[t - 1], greys[t])
        mask = consistent(back, fwd)
        if thumb_change(thumbs[t - 1], thumbs[t]) > cut_threshold or mask.mean() < min_reliable:
            mask = np.zeros_like(mask)
        out.append((back, mask))
    return out


def moving(pairs: list[tuple[np.ndarray, np.ndarray]], moving_px: float = MOVING_PX
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``pairs`` with each mask narrowed to moving objects: reliable pixels whose flow differs
    from the frame's median flow by more than ``moving_px``."""
    out = []
    for back, mask in pairs:
        if not mask.any():
            out.append((back, mask))
            continue
        rel = back - np.median(back[mask], axis=0)
        out.append((back, mask & (rel[..., 0] ** 2 + rel[..., 1] ** 2 > moving_px ** 2)))
    return out


def warping_error(outputs: list[np.ndarray], pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """E_warp: mean over pairs of the masked MSE between output t and output t-1 warped onto t;
    frames HxWx3 uint8, scaled to [0,1]. Pairs with no pixel in the mask are skipped; 0.0 when
    none is left."""
    errors = []
    for t, (back, mask) in enumerate(pairs, start=1):
        n = int(mask.sum())
        if n == 0:
            continue
        prev = warp(outputs[t - 1], back).astype(np.float32)
        diff = (prev - outputs[t].astype(np.float32)) * (1.0 / 255.0)
        errors.append(float((diff[mask] ** 2).sum()) / (3 * n))
    return float(np.mean(errors)) if errors else 0.0


def ema(stylized: list[np.ndarray], weight: float) -> list[np.ndarray]:
    """Exponential blending with the previous output: ``out = w * out_prev + (1 - w) * stylized``."""
    out: list[np.ndarray] = []
    state: np.ndarray | None = None  # float32 HxWx3, the blended output so far
    for s in stylized:
        state = s.astype(np.float32) if state is None else weight * state + (1 - weight) * s
        out.append(np.clip(state + 0.5, 0, 255).astype(np.uint8))
    return out


def mean_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean absolute difference of two equally long frame lists, in [0,1] units."""
    return float(np.mean([np.abs(x.astype(np.float32) - y).mean() for x, y in zip(a, b)]) / 255.0)


def trail(outputs: list[np.ndarray], stylized: list[np.ndarray], pairs, moving_pairs) -> float:
    """Mean absolute difference, in [0,1], of the outputs to the per-frame outputs on the pixels
    where nothing should carry over: moving objects and pixels the forward-backward test rejects
    (uncovered background behind a walker). Frames after a cut count whole. 0.0 when no pixel."""
    total, n = 0.0, 0
    for t, ((_, mask), (_, mov)) in enumerate(zip(pairs, moving_pairs), start=1):
        sel = mov | ~mask
        k = int(sel.sum())
        if k:
            total += float(np.abs(outputs[t].astype(np.float32) - stylized[t])[sel].sum()) / 3
            n += k
    return total / n / 255.0 if n else 0.0
