"""Types shared by every media reader and writer (re-exported by :mod:`fstvideo.media`).

A *source* iterates ``(frame, Stamp)`` pairs; a *sink* takes them back. Frames follow
:mod:`fstvideo.frames` (HxWx3 uint8 RGB, C-contiguous); everything else a frame carries
(time, alpha) rides in its :class:`Stamp`.
"""
from __future__ import annotations

import os
import tempfile
import weakref
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import MediaError
from .frames import check_frame


@dataclass(frozen=True)
class Stamp:
    pts: int | None = None               # presentation time in time_base units, exactly as decoded
    time_base: Fraction | None = None    # seconds per pts tick (the input stream's own)
    duration: float | None = None        # seconds the frame is shown (GIF delay, packet duration); None: unknown
    alpha: np.ndarray | None = field(default=None, compare=False, repr=False)  # HxW uint8, 255 opaque; None: opaque

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None without pts/time_base."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)


@dataclass(frozen=True)
class MediaInfo:
    path: Path | None              # the input file (None for bytes and cameras)
    kind: str                      # "video" | "gif" | "image"
    width: int                     # pixels of the frames as yielded (after rotation)
    height: int
    frames: int | None = None      # frame count from the container, else duration*fps rounded; None: unknown
    fps: float | None = None       # average frames per second; None for still images
    duration: float | None = None  # seconds; None: unknown or a still image
    has_audio: bool = False        # the input has at least one audio stream
    loop: int | None = None        # GIF NETSCAPE loop count as stored (0 = forever); None: no loop block
    rotation: int = 0              # degrees counter-clockwise applied to make frames upright (0/90/180/270)
    time_base: Fraction | None = None  # of the video stream: sinks keep it so pts survive exactly
    codec: str | None = None       # decoder name ("h264", "gif") or Pillow format ("PNG")
    container: str | None = None   # FFmpeg demuxer name ("mov,mp4,m4a,3gp,3g2,mj2") or Pillow format
    has_alpha: bool = False        # frames may carry Stamp.alpha


# x264 preset where the encoder shares the CPU with a real-time net (`convert --fast`, recording
# in the window): on a 2-core CPU the net keeps both cores busy at ~35 frames/s (640x480).
# Stylized frames at CRF 18 (PSNR against the unencoded frames): veryfast 10.4 ms of CPU per
# frame, 2.27 MB, 36.0 dB; ultrafast 4.9 ms, 3.49 MB, 36.5 dB. With it `convert --fast` ran at
# 0.83-0.86x the model-only rate instead of 0.72-0.75x, for files 1.5x as large.
REALTIME_PRESET = "ultrafast"


@dataclass(frozen=True)
class VideoOptions:
    codec: str | None = None   # FFmpeg encoder; None: libx264 (.mp4 .mov .m4v .mkv) or libvpx-vp9 (.webm)
    crf: int | None = None     # constant quality, lower = better and larger; None: 18 (x264, 0-51) or 31 (VP9, 0-63)
    preset: str = "veryfast"   # x264 speed/size trade-off; mapped onto cpu-used for VP9
    # H.264/H.265 B-frames. Off: MP4 derives frame durations from decode-order timestamps, which
    # B-frame reordering garbles for variable frame rate; also less latency, and on bigbuckbunny
    # at CRF 18 veryfast it encoded 40% faster into a 13% smaller file.
    bframes: int = 0
    # MP4/MOV as fragments of about a second (moov first, a keyframe per second): every fragment on
    # disk plays, so a recording cut short by a full disk or a kill is kept up to its last second.
    # Used by the window's recordings; files ~2% larger than one moov at the end.
    fragmented: bool = False


@dataclass(frozen=True)
class GifOptions:
    colors: int = 256          # palette entries per frame (2-256); one is reserved for transparency when needed
    dither: bool = True        # Floyd-Steinberg error diffusion: smooth gradients instead of bands
    min_delay_cs: int = 2      # browsers play delays under 2 cs as 10 cs, so faster frames are dropped instead


# Largest frame accepted from any input (width x height): 100 megapixels. A frame costs 3 bytes a
# pixel as decoded and more while it is converted, so this keeps one image under ~1 GB on a 4 GB
# machine; a file declaring more (a decompression bomb, a corrupt header) is refused before its
# pixels are decoded. Photos of 108-megapixel phone sensors can be shrunk first.
MAX_INPUT_PIXELS = 100_000_000


def check_size(name: object, width: int, height: int) -> None:
    """MediaError unless ``width`` x ``height`` is a plausible frame within MAX_INPUT_PIXELS."""
    if width < 1 or height < 1:
        raise MediaError(f"{name}: invalid frame size {width}x{height}")
    if width * height > MAX_INPUT_PIXELS:
        raise MediaError(f"{name}: too large: {width}x{height} is {width * height / 1e6:.0f} megapixels "
                         f"(at most {MAX_INPUT_PIXELS // 1_000_000} are accepted)")


def describe(exc: BaseException) -> str:
    """First line of an exception message, short enough for a one-line error. OSError and
    PyAV errors give their bare reason (their str() repeats errno and path)."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def media_error(name: object, what: str, exc: BaseException | None = None) -> MediaError:
    """MediaError("<file>: <what> (<reason>)") for raising ``from None``."""
    return MediaError(f"{name}: {what}" + (f" ({describe(exc)})" if exc is not None else ""))


def check_input(path: str | os.PathLike) -> Path:
    """An existing, non-empty, readable regular file, else MediaError. Opens nothing for writing."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a regular file")
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as e:
        raise media_error(p, "cannot read", e) from None
    if size == 0:
        raise MediaError(f"{p}: empty file")
    return p


def rotate_upright(a: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate HxW(xC) by ``quarter_turns`` x 90 degrees counter-clockwise, C-contiguous."""
    return np.ascontiguousarray(np.rot90(a, quarter_turns)) if quarter_turns % 4 else a


# Read once at import: os.umask() can only be read by setting it, which would race with
# threads creating files later.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Source:
    """Iterates ``(frame, Stamp)`` pairs once; a context manager that closes itself."""

    info: MediaInfo

    def __init__(self) -> None:
        self.notes: list[str] = []  # one-line remarks for the user (e.g. "decoding stopped at frame 40: ...")

    def __iter__(self):
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Sink:
    """Writes to a hidden temp file beside ``path`` (``.name.tmp-XXXX.ext``, so FFmpeg and Pillow
    still see the extension); ``close()`` renames it onto ``path``, ``abort()`` deletes it.
    Leaving the ``with`` block by any exception (KeyboardInterrupt too) aborts."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.notes: list[str] = []  # one-line remarks for the user (audio dropped, size padded, ...)
        self.frames = 0             # frames accepted by write()
        self._done = False
        parent = self.path.parent
        if not parent.is_dir():
            why = "is not a folder" if parent.exists() else "does not exist"
            raise MediaError(f"{self.path}: output folder {parent} {why}")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.tmp-", suffix=self.path.suffix, dir=parent)
            os.close(fd)
        except OSError as e:
            raise media_error(self.path, "cannot write to the output folder", e) from None
        self.tmp = tmp
        # A sink dropped without close()/abort() (crash in the caller) still leaves no temp file.
        self._finalizer = weakref.finalize(self, _remove, tmp)

    def write(self, frame: np.ndarray, stamp: Stamp | None = None) -> None:
        if self._done:
            raise MediaError(f"{self.path}: write after close")
        try:
            self._write(check_frame(frame), stamp or Stamp())
        except OSError as e:  # disk full, file-size limit, folder removed: one line, not a traceback
            raise media_error(self.path, "cannot write", e) from None
        self.frames += 1

    def close(self) -> None:
        """Finish the file and move it onto ``path``. No frames written -> MediaError, no file."""
        if self._done:
            return
        if self.frames == 0:
            self.abort()
            raise MediaError(f"{self.path}: no frames to write")
        try:
            self._finish()
            # mkstemp makes 0600 files; give the result the permissions a normal file would get.
            os.chmod(self.tmp, 0o666 & ~_UMASK)
            os.replace(self.tmp, self.path)
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, ValueError)) and not isinstance(e, MediaError):
                raise media_error(self.path, "cannot write", e) from None
            raise
        self._done = True
        self._finalizer.detach()

    def abort(self) -> None:
        """Drop everything written so far; the destination is left untouched."""
        if self._done:
            return
        self._done = True
        try:
            self._discard()
        finally:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # Subclasses: encode one checked frame; flush and close the temp file; release without finishing.
    def _write(self, frame: np.ndarray, stamp: Stamp) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError
