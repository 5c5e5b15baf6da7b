"""The window's virtual camera (:class:`fstvideo.vcam.VirtualCamera`): :class:`VcamOutput`, owned
by the worker thread, opens and closes it as the window's toggle asks and feeds it each stylized
frame (the camera's own thread keeps the receiving app at a steady rate while the net works);
:class:`VcamControls` is the toggle, status label and message on the window's side."""
from __future__ import annotations

import time

import cv2
import numpy as np

from fstvideo import FstError, VcamOptions, VirtualCamera


class VcamOutput:
    """``sync(on)`` once per worker loop opens or closes the virtual camera; ``write(frame)``
    feeds it. Each change is reported with ``report(on, text, failed)``: text describes the
    device when opened, says "virtual camera off" when closed, and is the reason (what to
    install) with ``failed`` when it could not open or stopped working."""

    def __init__(self, report, options: VcamOptions = VcamOptions()):
        self.report = report
        self.options = options
        self._cam: VirtualCamera | None = None

    @property
    def active(self) -> bool:
        return self._cam is not None

    def sync(self, on: bool) -> None:
        if on and self._cam is None:
            try:
                self._cam = VirtualCamera(self.options)
            except FstError as e:
                self.report(False, str(e), True)
                return
            self.report(True, self._cam.describe, False)
        elif not on and self._cam is not None:
            self.stop()

    def write(self, frame: np.ndarray, unmirror: bool = False) -> None:
        """Send ``frame`` (RGB, any size: letterboxed). ``unmirror``: the window shows the camera
        mirrored; call apps mirror their own preview, so the others get the true image."""
        if self._cam is None:
            return
        try:
            self._cam.write(cv2.flip(frame, 1) if unmirror else frame)
        except FstError as e:
            cam, self._cam = self._cam, None
            cam.close()
            self.report(False, str(e), True)

    def stop(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()
            self.report(False, "virtual camera off", False)


class VcamControls:
    """The window's side: a checkable "Virtual camera" action (Ctrl+Shift+V) kept in step with
    the panel's button, a permanent status-bar label with the device and the net's latency, and
    a message (what to install) when the camera cannot open. The state lives in the worker's
    Settings; the worker reports what actually happened through ``vcamChanged``."""

    SHORTCUT = "Ctrl+Shift+V"

    def __init__(self, window, worker, button, on: bool = False):
        from PyQt6.QtGui import QAction, QKeySequence
        from PyQt6.QtWidgets import QLabel
        self.window, self.worker, self.button = window, worker, button
        self.action = act = QAction("Virtual camera", window)
        act.setCheckable(True)
        act.setChecked(on)
        act.setShortcut(QKeySequence(self.SHORTCUT))
        act.toggled.connect(self._toggled)
        window.addAction(act)
        button.clicked.connect(act.setChecked)
        self.label = QLabel()  # permanent: device and latency stay while messages come and go
        window.statusBar().addPermanentWidget(self.label)
        self.box = None          # the last "no virtual camera" QMessageBox
        self.device = ""         # what the worker opened; "" = off
        self._shown = 0.0        # time.monotonic() of the label's last latency update
        worker.vcamChanged.connect(self._changed)

    def _toggled(self, on: bool) -> None:
        self.button.setChecked(on)
        self.worker.update(virtual_cam=on)
        if on:
            self.window.statusBar().showMessage("virtual camera: opening…")

    def _changed(self, on: bool, text: str, failed: bool) -> None:
        from PyQt6.QtCore import QSignalBlocker, Qt
        from PyQt6.QtWidgets import QMessageBox
        want = self.worker.settings().virtual_cam  # the worker turned it off if it failed
        with QSignalBlocker(self.action):
            self.action.setChecked(want)
        self.button.setChecked(want)
        self.device = text if on else ""
        self.label.setText(f"Virtual camera {text}" if on else "")
        self.window.statusBar().showMessage(f"virtual camera on: {text}" if on else text)
        if failed:  # what to install: worth more than a status line the next message replaces
            if self.box is not None:
                self.box.close()
            self.box = QMessageBox(QMessageBox.Icon.Warning, "Virtual camera", text, parent=self.window)
            self.box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy the command
            self.box.show()  # not modal: the window keeps running

    def frame_shown(self, stats) -> None:
        """Per displayed frame: the label's net rate and latency, at most once a second."""
        now = time.monotonic()
        if self.device and now - self._shown >= 1.0:  # readable, not flickering
            self._shown = now
            self.label.setText(f"Virtual camera {self.device} · net {stats.fps:.1f} fps, "
                               f"latency {stats.latency_ms:.0f} ms")
