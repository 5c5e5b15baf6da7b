"""What the worker writes besides the display: snapshots (the next shown image as PNG), the
recording (:class:`~fstvideo.gui.recorder.Recorder`) and the virtual camera
(:class:`~fstvideo.gui.vcamout.VcamOutput`). Snapshots are requested from the GUI thread; the
rest runs in the worker thread. No Qt: what happens is reported through the callables given to
:class:`Outputs`."""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from fstvideo import FstError, Stamp, write_image

from .recorder import Recorder
from .settings import Settings
from .vcamout import VcamOutput


class Outputs:
    """Reports: ``saved(path)`` per snapshot written, ``say(line)`` for the status bar,
    ``recording(on, text)`` and ``vcam(on, text, failed)`` on every change, and
    ``settle(field, seen, value)`` to switch a Settings toggle off that the worker ended (a
    recording stopped by a full disk, a virtual camera that failed) unless the window changed it."""

    def __init__(self, saved: Callable[[str], None], say: Callable[[str], None],
                 recording: Callable[[bool, str], None], vcam: Callable[[bool, str, bool], None],
                 settle: Callable[[str, object, object], None]):
        self._saved, self._say, self._recording, self._vcam_changed = saved, say, recording, vcam
        self._settle = settle
        self._lock = threading.Lock()
        self._snapshots: list[str] = []  # paths asked for, written with the next shown image
        self.recorder = Recorder(self._on_recording)
        self.vcam = VcamOutput(self._on_vcam)

    def snapshot(self, path: str) -> None:
        """Any thread: write the next shown image to ``path``."""
        with self._lock:
            self._snapshots.append(str(path))

    def sync_vcam(self, s: Settings) -> None:
        """Open or close the virtual camera as the settings ask (every loop: it keeps sending
        while no frame comes)."""
        self.vcam.sync(s.virtual_cam)

    def write(self, s: Settings, out: np.ndarray, shown: np.ndarray, stamp: Stamp, fps: float | None,
              unmirror: bool) -> None:
        """One frame: ``out`` (stylized) to the recording and the virtual camera, ``shown`` (what the
        window displays, maybe side by side) to the snapshots asked for."""
        self.recorder.sync(s.record, out, stamp, fps)
        self.vcam.write(out, unmirror=unmirror)  # stylized only, never side by side
        with self._lock:
            paths, self._snapshots = self._snapshots, []
        for path in paths:
            try:
                write_image(path, shown)
                self._saved(path)
            except FstError as e:
                self._say(f"snapshot failed: {e}")

    def stop_recording(self) -> None:
        self.recorder.stop()

    def close(self) -> None:
        self.recorder.stop()
        self.vcam.stop()

    @property
    def recording(self) -> bool:
        return self.recorder.active

    def _on_recording(self, on: bool, text: str, path: str | None) -> None:
        if not on and path is not None:  # ended by the worker (source lost, disk full): don't restart it
            self._settle("record", path, None)
        self._recording(on, text)

    def _on_vcam(self, on: bool, text: str, failed: bool) -> None:
        if failed:  # not retried every frame: the window unchecks its toggle
            self._settle("virtual_cam", True, False)
        self._vcam_changed(on, text, failed)
