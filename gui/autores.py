"""The "auto" processing resolution: pick the processing height (short side, px) among a few
steps so the net keeps up with the source's frame rate. Pure logic, no Qt, no clock: the worker
measures each frame's stylize time and feeds it here, tests feed synthetic times.

Rule, per frame (times in seconds):
- budget = ``budget`` x the source's frame interval (1/fps; 30 fps when the source does not say).
  Only a fraction: capture, the resize to net size, the QImage copy and the display (and a
  recording or virtual camera) take time in the same frame too, so the net cannot have all of it;
- the measured times are averaged (exponential moving average, EMA) at the current height; the
  time at another height is estimated as EMA x (pixel-count ratio) = EMA x (height ratio)^2,
  since the nets are fully convolutional (work per pixel, same aspect ratio);
- step down as soon as the EMA has been over budget for ``patience`` frames in a row: straight
  to the highest lower height whose estimate fits (the lowest if none), so a slow net does not
  stutter through every step;
- step up one height only when the estimate there is under ``up`` x budget for ``patience``
  frames in a row. The gap between ``up`` and 1 is the hysteresis: after a step up the new time
  is about ``up`` x budget (< budget: no step down), after a step down the estimate back up is
  over budget (> ``up`` x budget: no step up), so a net near one edge never oscillates;
- after each change, wait ``settle`` frames before judging again and leave the first ``skip`` of
  them out of the EMA: the first frames at a new size are slower (new buffer sizes, oneDNN/cuDNN
  pick and cache kernels per shape);
- never above the source's own height (its short side): that would only re-encode the same
  pixels (the worker never enlarges frames) and make the estimate wrong.
"""
from __future__ import annotations

import math

HEIGHTS = (240, 360, 480)  # processing heights tried (short side, px), low to high
DEFAULT_FPS = 30.0         # frames/s assumed when the source reports no (or a nonsense) rate


class AutoResolution:
    def __init__(self, heights: tuple[int, ...] = HEIGHTS, budget: float = 0.8, up: float = 0.7,
                 patience: int = 3, settle: int = 15, skip: int = 3, alpha: float = 0.2):
        self.heights = tuple(sorted(heights))
        self.budget = budget      # fraction of the frame interval the net may use
        self.up = up              # step up only when the estimate is under up x budget
        self.patience = patience  # frames in a row over (or well under) budget before a change
        self.settle = settle      # frames after a change before judging again
        self.skip = skip          # of those, the first ones are left out of the EMA (warm-up)
        self.alpha = alpha        # EMA weight of the newest frame: ~1/alpha = 5 frames of memory
        self.reset()

    def reset(self) -> None:
        """Start over at the lowest height (a new source or style: the old times say nothing).
        Lowest first: live at once on a slow CPU, and a fast net climbs within ~2 x settle frames."""
        self.height = self.heights[0]     # the processing height to use next (short side, px)
        self.ema: float | None = None     # average stylize time at self.height, s; None = no sample yet
        self._since = 0                   # frames fed since the last change (or reset)
        self._over = 0                    # judged frames in a row over budget
        self._under = 0                   # judged frames in a row with the next height well under budget
        self.changes = 0                  # height changes since reset (for tests and curiosity)

    def update(self, seconds: float, fps: float | None = None, source_height: int | None = None) -> int:
        """Feed the stylize time ``seconds`` of one frame processed at :attr:`height` (for a source
        whose short side is ``source_height`` px, running at ``fps`` frames/s); returns the
        height to process the next frame at."""
        allowed = [h for h in self.heights if source_height is None or h <= source_height]
        if not allowed:  # a source smaller than every step: the lowest (the worker won't enlarge it)
            allowed = [self.heights[0]]
        if self.height > allowed[-1]:  # the source changed under us: clamp, the size processed is the same
            self.height = allowed[-1]
        self._since += 1
        if self._since <= self.skip or not math.isfinite(seconds) or seconds < 0:
            return self.height
        # ema += alpha x (new - ema): a steady time leaves the EMA exactly equal to it (no rounding drift)
        self.ema = seconds if self.ema is None else self.ema + self.alpha * (seconds - self.ema)
        if self._since <= self.settle:
            return self.height
        rate = fps if fps is not None and math.isfinite(fps) and fps > 0 else DEFAULT_FPS
        budget = self.budget / rate  # s per frame the net may take
        now = self._pixels(self.height, source_height)
        self._over = self._over + 1 if self.ema > budget else 0
        higher = [h for h in allowed if h > self.height]
        estimate = self.ema * self._pixels(higher[0], source_height) / now if higher else math.inf
        self._under = self._under + 1 if estimate <= self.up * budget else 0
        if self._over >= self.patience and self.height > allowed[0]:
            fits = [h for h in allowed if h < self.height
                    and self.ema * self._pixels(h, source_height) / now <= budget]
            self._change(fits[-1] if fits else allowed[0])
        elif self._under >= self.patience:
            self._change(higher[0])
        return self.height

    @staticmethod
    def _pixels(height: int, source_height: int | None) -> float:
        """Relative pixel count at processing ``height``: (short side)^2, the aspect being the
        source's; the short side is the source's own when it is smaller (never enlarged)."""
        h = min(height, source_height) if source_height else height
        return float(h * h)

    def _change(self, height: int) -> None:
        self.height = height
        self.ema = None  # times at the old height: rescaled estimates are no substitute for measuring
        self._since = self._over = self._under = 0
        self.changes += 1
