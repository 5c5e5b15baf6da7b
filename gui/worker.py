"""The webcam window's worker thread: capture -> stylize -> (smooth) -> publish, plus recording,
the virtual camera, snapshots and style thumbnails. The window only displays and edits
:class:`Settings`.

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

from fstvideo import FstError, load_style, processing_size
from fstvideo.capture import CameraSource, FileLoop, LatestFrame
from fstvideo.media import write_image
from fstvideo.stylizer import Stylizer, StylizerOptions

from .recorder import Recorder
from .settings import FrameStats, Settings, net_size, slider_names, thumbnail_base
from .vcamout import VcamOutput


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
        self._lock = threading.Lock()
        self._settings = settings
        self._source_gen = 1          # bumped by every source request, so re-picking retries
        self._snapshots: list[str] = []
        self._thumbs: list[str] = []  # style specs waiting for a thumbnail
        self._mail: Shown | None = None
        self._stop = threading.Event()
        self._styles: dict[str, object] = {}  # spec -> loaded Style (switching back is instant)

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
        with self._lock:
            self._snapshots.append(str(path))

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

    # -- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        self._feed: LatestFrame | None = None
        self._fps: float | None = None  # the source's nominal rate, for the recording's stream
        self._stylizer: Stylizer | None = None
        self._thumb_stylizer: Stylizer | None = None
        self._style_spec: str | None = None
        self._smoother = None
        self._recorder = Recorder(self._on_recording)
        self._vcam = VcamOutput(self._on_vcam)
        try:
            self._loop()
        except Exception as e:  # a bug: say so in the window instead of dying silently
            self.message.emit(f"worker stopped: {type(e).__name__}: {e}")
        finally:
            self._recorder.stop()
            self._vcam.stop()
            self._close_feed()

    def _loop(self) -> None:
        gen, fps, last = 0, 0.0, None
        while not self._stop.is_set():
            with self._lock:
                s, new_gen = self._settings, self._source_gen
            if new_gen != gen:
                gen = new_gen
                self._open(s)
            self._sync_style(s)
            self._vcam.sync(s.virtual_cam)  # opened/closed here: it keeps sending while no frame comes
            item = self._feed.take(0.1) if self._feed is not None else None
            if item is None:
                if self._feed is not None and self._feed.ended:
                    self._fail(str(self._feed.error or "the source ended"))
                self._render_thumbnail()
                if self._feed is None:
                    self._stop.wait(0.05)
                continue
            self._feed.source.mirror = s.mirror and isinstance(s.source, int)
            frame, stamp, captured = item
            h, w = frame.shape[:2]
            m = net_size(h, w, s.resolution,
                         processing_size(self._stylizer.style) if self._stylizer is not None else None)
            if m:  # shrink here (INTER_AREA, ~2 ms for 720p) so everything after works at net size
                scale = m / max(h, w)
                frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            out, name = self._stylize(s, frame)
            self._recorder.sync(s.record, out, stamp, self._fps)
            self._vcam.write(out, unmirror=self._feed.source.mirror)  # stylized only, never side by side
            shown = np.hstack([frame, out]) if s.side_by_side else out
            self._save_snapshots(shown)
            now = time.monotonic()
            if last is not None:  # exponential average over ~5 frames
                inst = 1.0 / max(now - last, 1e-6)
                fps = inst if fps == 0 else 0.8 * fps + 0.2 * inst
            last = now
            stats = FrameStats(fps=fps, latency_ms=(now - captured) * 1000.0, width=w, height=h,
                               net_width=frame.shape[1], net_height=frame.shape[0],
                               dropped=self._feed.dropped, style=name, recording=self._recorder.active)
            self._publish(Shown(to_qimage(shown), stats, frame, out))
            self._render_thumbnail()

    def _publish(self, shown: Shown) -> None:
        with self._lock:
            notify = self._mail is None
            self._mail = shown  # replaces an image the window has not taken: dropped, not queued
        if notify:
            self.frameReady.emit()

    # -- source -----------------------------------------------------------------------------
    def _open(self, s: Settings) -> None:
        self._recorder.stop()
        self._close_feed()
        if self._smoother is not None:
            self._smoother.reset()
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
        self._recorder.stop()
        self._close_feed()
        self.sourceFailed.emit(why)

    def _close_feed(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    # -- stylizing --------------------------------------------------------------------------
    def _load(self, spec: str):
        if spec not in self._styles:
            self._styles[spec] = load_style(spec)
        return self._styles[spec]

    def _sync_style(self, s: Settings) -> None:
        if s.style == self._style_spec:
            return
        previous, self._style_spec = self._style_spec, s.style  # a failing spec is not retried
        try:
            style = self._load(s.style)
            if self._stylizer is None:
                self._stylizer = Stylizer(style, StylizerOptions(device=s.device))
            else:
                if self._stylizer.options.blend:  # names of the old file: invalid for the new one
                    self._stylizer.set_options(replace(self._stylizer.options, blend=()))
                self._stylizer.set_style(style)
        except Exception as e:  # FstError, or anything else a bad file provokes: keep the previous style
            if previous is not None and self._stylizer is not None:
                with self._lock:  # back to the style still loaded
                    if self._settings.style == s.style:
                        self._settings = replace(self._settings, style=previous)
                self._style_spec = previous
            self.styleFailed.emit(s.style, str(e))
            if self._stylizer is not None:  # the style still loaded: its sliders again
                self.styleLoaded.emit(self._style_spec, slider_names(self._stylizer.style.styles))
            return
        if self._smoother is not None:
            self._smoother.reset()  # don't blend the old style into the new one
        self.styleLoaded.emit(s.style, slider_names(style.styles))

    def _stylize(self, s: Settings, frame: np.ndarray) -> tuple[np.ndarray, str]:
        st = self._stylizer
        if st is None:  # no style could be loaded: show the camera as it is
            return frame, ""
        # The frame is already at the processing size (see _loop): the net sees all of it.
        options = StylizerOptions(device=s.device, strength=float(s.strength), preserve_color=s.preserve_color,
                                  blend=tuple(s.blend))
        if options != st.options:
            try:
                st.set_options(options)  # a new blend only re-mixes the norm weights: no rebuild
            except FstError as e:
                if not options.blend:
                    raise
                with self._lock:  # an invalid blend (unknown name, all zero): back to the first style
                    if self._settings.blend == s.blend:
                        self._settings = replace(self._settings, blend=())
                self.message.emit(f"blend ignored: {e}")
                st.set_options(replace(options, blend=()))
        out = st(frame)
        if s.smooth:
            out = self._smooth(frame, out)
        return out, st.style.name

    def _smooth(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        try:
            if self._smoother is None:
                from fstvideo.temporal import SmoothOptions, Smoother
                self._smoother = Smoother(SmoothOptions())
            return self._smoother(frame, out)
        except Exception as e:  # missing module or a failure: smoothing off, frames go on
            self.update(smooth=False)
            self.message.emit(f"temporal smoothing unavailable: {e}")
            return out

    def _render_thumbnail(self) -> None:
        """At most one thumbnail per call, so live frames keep flowing between them."""
        with self._lock:
            spec = self._thumbs.pop(0) if self._thumbs else None
        if spec is None:
            return
        try:
            style = self._load(spec)
            if self._thumb_stylizer is None:
                self._thumb_stylizer = Stylizer(style, StylizerOptions(device=self.settings().device))
            else:
                self._thumb_stylizer.set_style(style)
            self.thumbnailReady.emit(spec, to_qimage(self._thumb_stylizer(thumbnail_base())))
        except Exception as e:  # one bad style file must not stop the worker
            self.styleFailed.emit(spec, str(e))

    # -- outputs ----------------------------------------------------------------------------
    def _save_snapshots(self, image: np.ndarray) -> None:
        with self._lock:
            paths, self._snapshots = self._snapshots, []
        for path in paths:
            try:
                write_image(path, image)
                self.snapshotSaved.emit(path)
            except FstError as e:
                self.message.emit(f"snapshot failed: {e}")

    def _on_recording(self, on: bool, text: str, path: str | None) -> None:
        if not on:
            with self._lock:  # ended by the worker (source lost, disk full): don't restart it
                if path is not None and self._settings.record == path:
                    self._settings = replace(self._settings, record=None)
        self.recordingChanged.emit(on, text)

    def _on_vcam(self, on: bool, text: str, failed: bool) -> None:
        if failed:
            with self._lock:  # not retried every frame: the window unchecks its toggle
                self._settings = replace(self._settings, virtual_cam=False)
        self.vcamChanged.emit(on, text, failed)
