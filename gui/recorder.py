"""Recording the stylized stream to MP4 with the writer ``fstvideo convert`` uses
(:func:`fstvideo.media.open_sink`), in the worker thread, with the capture timestamps: a frame
the worker dropped leaves a gap in time instead of speeding the video up. x264 runs at its
fastest preset (``REALTIME_PRESET``): each frame's encoding delays the next frame's stylization."""
from __future__ import annotations

import numpy as np

from fstvideo import MICROSECONDS, REALTIME_PRESET, FstError, MediaInfo, Stamp, VideoOptions, open_sink


class Recorder:
    """``sync(path, frame, stamp, fps)`` once per frame: starts, continues or stops recording so
    that ``path`` (None = off) is what is being written. Each change is reported with
    ``report(recording, text, path)``: text is the path when started, "saved ..." or "recording
    failed: ..." when stopped."""

    def __init__(self, report):
        self.report = report
        self.path: str | None = None     # what is being recorded; None = not recording
        self._sink = None
        self._start: int | None = None   # capture pts (us) of the first recorded frame

    @property
    def active(self) -> bool:
        return self._sink is not None

    def sync(self, path: str | None, frame: np.ndarray, stamp: Stamp, fps: float | None) -> None:
        if path != self.path:
            self.stop()
            if path:
                self._begin(path, frame, fps)
        if self._sink is None:
            return
        if self._start is None:
            self._start = stamp.pts
        try:
            live = stamp.pts is not None and self._start is not None
            # Microseconds since the first recorded frame (the sink keeps this time base).
            self._sink.write(frame, Stamp(pts=stamp.pts - self._start, time_base=MICROSECONDS) if live else None)
        except FstError as e:
            self._abort(str(e))

    def _begin(self, path: str, frame: np.ndarray, fps: float | None) -> None:
        h, w = frame.shape[:2]
        info = MediaInfo(path=None, kind="video", width=w, height=h, fps=fps or 30.0, time_base=MICROSECONDS)
        try:
            # the encoder runs in the worker, between two frames of a real-time net
            # fragmented: what is on disk plays even if the disk fills or the process is killed
            self._sink = open_sink(path, info, audio=False,
                                   video=VideoOptions(preset=REALTIME_PRESET, fragmented=True))
        except FstError as e:
            self.path = path
            self._abort(str(e))
            return
        self.path, self._start = path, None
        self.report(True, path, path)

    def stop(self) -> None:
        """Finish the file: it is renamed into place now."""
        sink, path, self._sink, self.path = self._sink, self.path, None, None
        if sink is None:
            return
        try:
            sink.close()
            self.report(False, f"saved {sink.path} ({sink.frames} frames)", path)
        except FstError as e:
            self.report(False, f"recording failed: {e}", path)

    def _abort(self, why: str) -> None:
        """Recording cannot go on (disk full, encoder failure): finish and keep the frames written
        so far; only a recording without a single frame is dropped."""
        sink, path, self._sink, self.path = self._sink, self.path, None, None
        if sink is not None and sink.frames:
            try:
                sink.close()
                self.report(False, f"recording stopped: {why}; what was recorded is kept in {sink.path}", path)
                return
            except FstError:
                pass  # close() removed the temp file
        if sink is not None:
            sink.abort()
        self.report(False, f"recording failed: {why}", path)
