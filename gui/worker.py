"""The webcam window's worker thread and its frame loop: capture -> stylize -> (smooth) ->
publish. The styles and the net live in :class:`~fstvideo.gui.stylecache.StyleCache`, the
snapshots, recording and virtual camera in :class:`~fstvideo.gui.outputs.Outputs`; the window
only displays and edits :class:`Settings`.

Latest-frame policy, so latency stays about one frame however slow the net is:
- capture runs in its own thread (:class:`fstvideo.capture.LatestFrame`) and keeps only the
  newest frame; the worker takes that one, older ones are dropped;
- the worker publishes into a one-slot mailbox: if the window has not yet taken the previous
  image, it is replaced, and ``frameReady`` is emitted only when the slot was empty, so Qt's
  event queue never holds more than one notification.

Frames are shrunk to the processing resolution first (OpenCV, ~2 ms for 720p), so the net,
smoothing, snapshots, recordings and the QImage all work at that size; the view scales the
image to the window when painting. (Letting the Stylizer shrink and re-enlarge a 720p frame
costs ~10x more per frame on CPU than the net itself at 240p for small nets.)

The window changes settings with :meth:`StyleWorker.update` (a frozen dataclass replaced under
a lock); the worker reads one consistent snapshot per frame, loads style files itself and
applies everything from the next frame on: the GUI thread never waits for the net.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal
from PyQt6.QtGui import QImage

from fstvideo import CameraSource, FileLoop, FstError, LatestFrame

from .autores import AutoResolution
from .outputs import Outputs
from .settings import AUTO, FrameStats, Settings, net_size
from .stylecache import StyleCache


@dataclass(frozen=True)
class Shown:
    """One published result: the QImage to display and what made it."""
    image: QImage                           # what to display (side by side or stylized)
    stats: FrameStats
    frame: np.ndarray = field(repr=False)   # the input frame at processing size (RGB)
    output: np.ndarray = field(repr=False)  # the stylized frame (RGB, same size)


def to_qimage(frame: np.ndarray) -> QImage:
    """HxWx3 uint8 RGB -> an independent QImage (deep copy: the array may be reused)."""
    h, w = frame.shape[:2]
    frame = np.ascontiguousarray(frame)
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class StyleWorker(QThread):
    frameReady = pyqtSignal()                 # a Shown waits in take()
    message = pyqtSignal(str)                 # one line for the status bar
    sourceFailed = pyqtSignal(str)            # the source did not open or stopped: pick another
    sourceOpened = pyqtSignal(str)            # a description of the source now playing
    styleFailed = pyqtSignal(str, str)        # (style spec, reason); the previous style stays
    styleLoaded = pyqtSignal(str, list)       # (style spec, its blendable slot names, "photo" excluded)
    thumbnailReady = pyqtSignal(str, QImage)  # (style spec, stylized thumbnail)
    snapshotSaved = pyqtSignal(str)           # path of the PNG written
    recordingChanged = pyqtSignal(bool, str)  # (recording, path when started / outcome when stopped)
    vcamChanged = pyqtSignal(bool, str, bool) # (sending, device when opened / why it stopped, failed)

    def __init__(self, settings: Settings = Settings(), parent=None):
        super().__init__(parent)
        self._lock = threading.Lock()  # guards the fields the GUI thread touches: settings, mailbox, thumbnails
        self._settings = settings
        self._source_gen = 1           # bumped by every source request, so re-picking retries
        self._thumbs: list[str] = []   # style specs waiting for a thumbnail
        self._mail: Shown | None = None
        self._stop = threading.Event()
        # Used by the worker thread only:
        self._feed: LatestFrame | None = None
        self._fps: float | None = None  # the source's nominal rate, for the recording's stream
        self._auto = AutoResolution()   # picks the processing height while Settings.resolution is AUTO
        self._auto_for: tuple | None = None  # (source generation, style, device) it has measured; None = off
        self._styles = StyleCache(loaded=self.styleLoaded.emit, failed=self.styleFailed.emit,
                                  say=self.message.emit, settle=self._settle)
        self._outputs = Outputs(saved=self.snapshotSaved.emit, say=self.message.emit,
                                recording=self.recordingChanged.emit, vcam=self.vcamChanged.emit,
                                settle=self._settle)

    # -- called from the GUI thread ---------------------------------------------------------
    def settings(self) -> Settings:
        with self._lock:
            return self._settings

    def update(self, **changes) -> Settings:
        """Replace settings fields atomically; applied from the next frame. Setting ``source``
        (even to the current one) reopens it."""
        with self._lock:
            self._settings = replace(self._settings, **changes)
            if "source" in changes:
                self._source_gen += 1
            return self._settings

    def snapshot(self, path: str) -> None:
        """Write the next displayed image to ``path`` (PNG); ``snapshotSaved`` follows."""
        self._outputs.snapshot(path)

    def request_thumbnails(self, specs: list[str]) -> None:
        with self._lock:
            self._thumbs.extend(s for s in specs if s not in self._thumbs)

    def take(self) -> Shown | None:
        """The newest published result, or None if it was already taken."""
        with self._lock:
            shown, self._mail = self._mail, None
            return shown

    def stop(self) -> None:
        """Ask the thread to finish (it closes the source and any recording); then ``wait()``."""
        self._stop.set()

    def _settle(self, name: str, seen: object, value: object) -> None:
        """Set settings field ``name`` to ``value`` unless the window changed it from ``seen``."""
        with self._lock:
            if getattr(self._settings, name) == seen:
                self._settings = replace(self._settings, **{name: value})

    # -- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # a bug: say so in the window instead of dying silently
            self.message.emit(f"worker stopped: {type(e).__name__}: {e}")
        finally:
            self._outputs.close()
            self._close_feed()

    def _loop(self) -> None:
        gen, fps, last = 0, 0.0, None
        while not self._stop.is_set():
            with self._lock:
                s, new_gen = self._settings, self._source_gen
            if new_gen != gen:
                gen = new_gen
                self._open(s)
            self._styles.sync(s)
            self._outputs.sync_vcam(s)
            item = self._feed.take(0.1) if self._feed is not None else None
            if self._feed is None or item is None:
                if self._feed is not None and self._feed.ended:
                    self._fail(str(self._feed.error or "the source ended"))
                self._render_thumbnail()
                if self._feed is None:
                    self._stop.wait(0.05)
                continue
            self._feed.source.mirror = s.mirror and isinstance(s.source, int)
            frame, stamp, captured = item
            h, w = frame.shape[:2]
            m = net_size(h, w, self._resolution(s, gen), self._styles.processing_size)
            if m:  # shrink here (INTER_AREA, ~2 ms for 720p) so everything after works at net size
                scale = m / max(h, w)
                frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            t0 = time.perf_counter()
            out, name = self._styles.stylize(s, frame)
            if s.resolution == AUTO:  # the net's (and smoothing's) seconds at this height: the next pick
                self._auto.update(time.perf_counter() - t0, self._fps, min(h, w))
            shown = np.hstack([frame, out]) if s.side_by_side else out
            self._outputs.write(s, out, shown, stamp, self._fps, unmirror=self._feed.source.mirror)
            now = time.monotonic()
            if last is not None:  # exponential average over ~5 frames
                inst = 1.0 / max(now - last, 1e-6)
                fps = inst if fps == 0 else 0.8 * fps + 0.2 * inst
            last = now
            stats = FrameStats(fps=fps, latency_ms=(now - captured) * 1000.0, width=w, height=h,
                               net_width=frame.shape[1], net_height=frame.shape[0],
                               dropped=self._feed.dropped, style=name, recording=self._outputs.recording,
                               auto=s.resolution == AUTO)
            self._publish(Shown(to_qimage(shown), stats, frame, out))
            self._render_thumbnail()

    def _resolution(self, s: Settings, gen: int) -> int | None:
        """The processing height for this frame: the setting, or the AutoResolution's pick. That
        starts over for a new source, style or device, or when auto is chosen again: times
        measured for another net or frame size say nothing about this one."""
        if s.resolution != AUTO:
            self._auto_for = None
            return s.resolution
        key = (gen, s.style, s.device)
        if key != self._auto_for:
            self._auto_for = key
            self._auto.reset()
        return self._auto.height

    def _publish(self, shown: Shown) -> None:
        with self._lock:
            notify = self._mail is None
            self._mail = shown  # replaces an image the window has not taken: dropped, not queued
        if notify:
            self.frameReady.emit()

    def _render_thumbnail(self) -> None:
        """At most one thumbnail per call, so live frames keep flowing between them."""
        with self._lock:
            spec = self._thumbs.pop(0) if self._thumbs else None
            device = self._settings.device
        if spec is None:
            return
        try:
            self.thumbnailReady.emit(spec, to_qimage(self._styles.thumbnail(spec, device)))
        except Exception as e:  # one bad style file must not stop the worker
            self.styleFailed.emit(spec, str(e))

    # -- source -----------------------------------------------------------------------------
    def _open(self, s: Settings) -> None:
        self._outputs.stop_recording()
        self._close_feed()
        self._styles.reset_smoothing()
        source: CameraSource | FileLoop
        try:
            if isinstance(s.source, int):
                source = CameraSource(s.source, mirror=s.mirror)
                what = f"camera {s.source}"
            else:
                source = FileLoop(s.source)
                what = f"{Path(s.source).name} (looped)"
        except FstError as e:
            self.sourceFailed.emit(str(e))
            return
        except Exception as e:  # OpenCV/FFmpeg surprises must not kill the window
            self.sourceFailed.emit(f"cannot open {s.source}: {e}")
            return
        self._fps = source.info.fps
        self._feed = LatestFrame(source)
        self.sourceOpened.emit(f"{what}, {source.info.width}x{source.info.height}")

    def _fail(self, why: str) -> None:
        self._outputs.stop_recording()
        self._close_feed()
        self.sourceFailed.emit(why)

    def _close_feed(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None
