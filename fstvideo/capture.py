"""Live sources for the webcam window: a camera through OpenCV, or a video file played in a loop
at its own frame rate, and :class:`LatestFrame`, which runs either in a thread and keeps only
the newest frame so a slow consumer never works through a backlog.

Both sources iterate ``(frame, Stamp)`` pairs like the file sources of :mod:`fstvideo.media`.
Their stamps count microseconds of wall-clock time since the source opened (``time_base =
1/1e6``), so they only grow, across loops too, and a recording keeps the real capture timing.
This module is the only place BGR frames exist: OpenCV's are converted to RGB right after
``read()``.
"""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .errors import MediaError
from .media import MediaInfo, Stamp, open_media

MICROSECONDS = Fraction(1, 1_000_000)  # time base of every live stamp
_STILL_FPS = 10.0  # a still image "plays" at this rate so setting changes show up


def _bgr_to_rgb(bgr: np.ndarray, mirror: bool) -> np.ndarray:
    """OpenCV image (HxW grey, HxWx3 BGR or HxWx4 BGRA) -> HxWx3 RGB frame, optionally mirrored."""
    if mirror:
        bgr = cv2.flip(bgr, 1)  # around the vertical axis: left <-> right
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return np.ascontiguousarray(cv2.cvtColor(bgr, code))


class CameraSource:
    """Camera ``index`` (``cv2.VideoCapture(index)``) as a live source.

    Raises MediaError when the camera is missing or busy (at open) or stops delivering frames
    (unplugged mid-stream: ``failures`` reads in a row fail). ``mirror`` may be changed while
    iterating; it applies from the next frame. ``width``/``height`` request a capture size
    (the camera may pick another; ``info`` has what it delivers).
    """

    def __init__(self, index: int, mirror: bool = False, width: int | None = None,
                 height: int | None = None, failures: int = 20):
        self.index = int(index)
        self.mirror = mirror
        self.failures = failures  # consecutive failed reads (~50 ms apart) that mean "unplugged"
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self._iterating = False
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our one line replaces its warnings
        try:
            cap = cv2.VideoCapture(self.index)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            raise MediaError(f"camera {self.index}: not found or busy")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2 keeps up to 4 old frames otherwise: latency
        ok, bgr = cap.read()  # a camera another program holds often opens, then delivers nothing
        if not ok or bgr is None:
            cap.release()
            raise MediaError(f"camera {self.index}: opened but delivers no frames (busy or unplugged?)")
        self._cap: cv2.VideoCapture | None = cap  # None once released
        self._first: np.ndarray | None = bgr
        self._t0 = time.monotonic()
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.info = MediaInfo(path=None, kind="video", width=int(bgr.shape[1]), height=int(bgr.shape[0]),
                              fps=float(fps) if fps and fps > 0 else None, time_base=MICROSECONDS)

    def __iter__(self):
        self._iterating = True
        missed = 0
        try:
            while not self._closed:
                bgr, self._first = self._first, None
                if bgr is None:
                    ok, bgr = self._cap.read()
                    if not ok or bgr is None:
                        missed += 1
                        if missed >= self.failures:
                            raise MediaError(f"camera {self.index}: stopped delivering frames (unplugged?)")
                        time.sleep(0.05)
                        continue
                missed = 0
                pts = round((time.monotonic() - self._t0) * 1_000_000)
                yield _bgr_to_rgb(bgr, self.mirror), Stamp(pts=pts, time_base=MICROSECONDS)
        finally:
            self._iterating = False
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def close(self) -> None:
        """Stop; safe from another thread (the iterating thread releases the device)."""
        self._closed = True
        if not self._iterating:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileLoop:
    """A video, GIF or image file as a live source: frames at the file's own rate (never faster
    than real time, ``pace=False`` for as fast as possible), reopened at the end, forever.
    Opening validates the file (MediaError)."""

    def __init__(self, path: str | Path, pace: bool = True):
        self.path = Path(path)
        self.pace = pace
        with open_media(self.path) as src:
            self.info = src.info
            self.notes: list[str] = list(getattr(src, "notes", []))
        self.mirror = False  # files are never mirrored; attribute kept for interface parity
        self._stop = threading.Event()

    def _wait_until(self, due: float) -> None:
        delay = due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)  # interruptible sleep: close() wakes it

    def __iter__(self):
        t0 = time.monotonic()
        clock = 0.0  # seconds of playback since open; grows across loops
        step = 1.0 / (self.info.fps or (_STILL_FPS if self.info.kind == "image" else 25.0))
        while not self._stop.is_set():
            count = 0
            with open_media(self.path) as src:
                first: float | None = None
                for frame, stamp in src:
                    if self._stop.is_set():
                        return
                    t = stamp.time
                    if first is None:
                        first = t if t is not None else 0.0
                    at = clock + ((t - first) if t is not None else count * step)
                    if self.pace:
                        if time.monotonic() - (t0 + at) > 0.5:  # a stall (debugger, suspend): re-sync, no burst
                            t0 = time.monotonic() - at
                        self._wait_until(t0 + at)
                    duration = stamp.duration or step
                    yield frame, Stamp(pts=round(at * 1_000_000), time_base=MICROSECONDS,
                                       duration=duration, alpha=stamp.alpha)
                    count += 1
                    last = at + duration
            if count == 0:
                raise MediaError(f"{self.path}: no frames")
            clock = last

    def close(self) -> None:
        self._stop.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LatestFrame:
    """Iterates ``source`` in a daemon thread, keeping only the newest ``(frame, stamp, t)``
    (``t``: ``time.monotonic()`` when it arrived). :meth:`take` returns an item not taken
    before, waiting for one; older unseen items are dropped (counted in ``dropped``). An error
    in the source (MediaError: camera unplugged) ends the thread and is kept in ``error``."""

    def __init__(self, source):
        self.source = source
        self.error: BaseException | None = None
        self.ended = False
        self.dropped = 0
        self._cond = threading.Condition()
        self._item: tuple | None = None
        self._fresh = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        it = iter(self.source)
        try:
            for frame, stamp in it:
                with self._cond:
                    self.dropped += self._fresh
                    self._item, self._fresh = (frame, stamp, time.monotonic()), True
                    self._cond.notify_all()
                if self._stop:
                    break
        except BaseException as e:  # handed to the consumer, which reports it
            self.error = e if isinstance(e, MediaError) else MediaError(f"source failed: {e}")
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # runs the generator's cleanup here, in the thread that used the device
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def take(self, timeout: float = 0.1) -> tuple | None:
        """The newest unseen ``(frame, stamp, t)``, or None after ``timeout`` seconds or once
        the source ended (then see ``error``)."""
        with self._cond:
            if not self._fresh and not self.ended:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._item

    def close(self, timeout: float = 2.0) -> None:
        """Stop the source and join the thread (a camera stuck in read() is left to its daemon)."""
        self._stop = True
        self.source.close()
        self._thread.join(timeout)
