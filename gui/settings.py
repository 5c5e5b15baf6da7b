"""What the window asks of the worker (:class:`Settings`) and what it gets back per frame
(:class:`FrameStats`). Plain frozen dataclasses, no Qt: the window replaces the whole Settings
object under a lock, the worker reads one consistent snapshot per frame."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fstvideo import DEFAULT_STYLE, PHOTO_SLOT

# Settings.resolution for "auto": the worker's AutoResolution (gui/autores.py) picks 240/360/480p
# per frame so the net keeps up with the source's frame rate. An int, not a string, so the field
# stays int | None and round-trips through the combo box's item data unchanged.
AUTO = -1
# label, short side px; 0 = the style's own processing size (strokes at the painting's scale);
# auto first: the window's default on a CPU (the R key cycles through them in this order)
RESOLUTIONS = [("auto", AUTO), ("240p", 240), ("360p", 360), ("480p", 480), ("style's size", 0), ("native", None)]


@dataclass(frozen=True)
class Settings:
    source: int | str = 0          # camera index, or a video/GIF/image file played in a loop
    style: str = DEFAULT_STYLE     # bundled/user style name or a .safetensors path
    blend: tuple[tuple[str, float], ...] = ()  # multi-style files: (slot name, weight 0-1) pairs,
                                   # normalised by the Stylizer; () = the file's first style.
                                   # Reset to () when the style changes (names are per file)
    strength: float = 1.0          # 0 = original, 1 = full style
    preserve_color: bool = False   # stylize luminance only, keep the camera's colours
    smooth: bool = False           # flow-guided temporal smoothing (fstvideo.Smoother)
    resolution: int | None = AUTO  # processing height (short side, px); None = native; 0 = the style's
                                   # size; AUTO (-1) = 240/360/480p picked per frame to keep camera rate.
                                   # Frames are shrunk to it before the net: display, snapshots and
                                   # recordings too
    mirror: bool = True            # cameras only: flip left-right, like a mirror
    side_by_side: bool = False     # show original | stylized
    record: str | None = None      # MP4 being recorded (stylized frames, capture timing); None = off
    virtual_cam: bool = False      # send the stylized stream to a virtual camera (fstvideo.vcam) at its
                                   # own fixed size and rate, for call apps and OBS
    device: str = "auto"           # torch device for the net: auto, cpu, cuda


@dataclass(frozen=True)
class FrameStats:
    fps: float          # images published per second (exponential average)
    latency_ms: float   # capture of the frame -> its image published, ms
    width: int          # source frame size, px
    height: int
    net_width: int      # size the net sees (processing resolution), px
    net_height: int
    dropped: int        # frames dropped since the source opened (latest-frame policy)
    style: str          # display name of the style that made this image ("" = none loaded)
    recording: bool     # a recording is running
    auto: bool = False  # the net size was picked by the auto resolution (Settings.resolution AUTO)


def net_size(height: int, width: int, resolution: int | None, style_size: int | None = None) -> int | None:
    """Processing height ``resolution`` (short side, px) -> the longest side to shrink a frame
    to (what Stylizer calls ``max_size``); None when the frame is already that small or
    ``resolution`` is None (native). ``resolution`` 0: the style's processing size
    ``style_size`` (longest side, px; ``fstvideo.processing_size``), native if it has none.
    AUTO is resolved by the worker first (its AutoResolution's height): it is not a size."""
    if resolution == AUTO:
        raise ValueError("resolution AUTO: pass the height the AutoResolution picked")
    short, long = min(height, width), max(height, width)
    if resolution == 0:
        return style_size if style_size and long > style_size else None
    if resolution is None or short <= resolution:
        return None
    return max(16, round(resolution * long / short))


def slider_names(styles) -> list[str]:
    """A style file's slot names that get a blend slider (all but the content-only slot)."""
    return [str(n) for n in styles if n != PHOTO_SLOT]  # the strength end, not a style


def thumbnail_base(n: int = 72) -> np.ndarray:
    """The fixed small picture stylized for style thumbnails: sky, sun, hills (nxnx3 RGB)."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    img = np.stack([90 + 120 * y, 140 + 80 * y, 235 - 60 * y], axis=-1)
    img[(x - 0.7) ** 2 + (y - 0.3) ** 2 < 0.02] = (250, 210, 70)
    hills = y > 0.62 + 0.12 * np.sin(6 * x)
    img[hills] = np.stack([40 + 60 * x, 120 + 50 * y, 50 + 0 * x], axis=-1)[hills]
    return np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))
