"""The webcam window: video view + control panel. It never touches frames or the net; every
control becomes a :meth:`StyleWorker.update` (or a snapshot request) that the worker applies
from its next frame, and every image arrives through the worker's one-slot mailbox."""
from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QSignalBlocker
from PyQt6.QtGui import QAction, QIcon, QImage, QKeySequence, QPixmap
from PyQt6.QtWidgets import QFileDialog, QHBoxLayout, QMainWindow, QWidget

from fstvideo import FstError, bundled_dir, list_styles, resolve_style

from .panel import OPEN_FILE, ControlPanel
from .settings import Settings
from .vcamout import VcamControls
from .view import VideoView
from .worker import Shown, StyleWorker

STRENGTH_STEP = 10  # percent per +/- key

# (keys, what they do): the help overlay (F1); the README names the main ones.
SHORTCUTS = [
    ("1-9", "pick style 1-9"),
    ("Left / Right", "previous / next style"),
    ("+ / -", "more / less style strength"),
    ("C", "preserve colour on/off"),
    ("T", "temporal smoothing on/off"),
    ("R", "processing resolution: auto, 240p, 360p, 480p, the style's size, native"),
    ("B", "side by side: original | stylized"),
    ("M", "mirror the camera on/off"),
    ("S", "snapshot to PNG"),
    ("V", "record MP4: start / stop"),
    ("Ctrl+Shift+V", "virtual camera on/off (for call apps and OBS)"),
    ("O", "open a video file as the source"),
    ("F or F11", "full screen on/off"),
    ("I", "frame rate / latency overlay on/off"),
    ("F1, H or ?", "this help on/off"),
    ("Esc", "leave full screen (or help), else quit"),
]
# Window method -> its keys (window-wide actions: they work in full screen with the panel hidden).
KEYS = {"toggle_color": ["C"], "toggle_smooth": ["T"], "cycle_resolution": ["R"],
        "toggle_side_by_side": ["B"], "toggle_mirror": ["M"], "snapshot": ["S"], "toggle_record": ["V"],
        "open_video": ["O"], "toggle_full_screen": ["F", "F11"], "toggle_stats": ["I"],
        "toggle_help": ["F1", "H", "?", "Shift+?"], "escape": ["Esc"], "next_style": ["Right"],
        "previous_style": ["Left"], "stronger": ["+", "=", "Shift++"], "weaker": ["-"]}


def unique_path(folder: Path, suffix: str) -> Path:
    """folder/fstvideo-YYYYmmdd-HHMMSS[-n].suffix that does not exist yet."""
    stem = time.strftime("fstvideo-%Y%m%d-%H%M%S")
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        path, n = folder / f"{stem}-{n}{suffix}", n + 1
    return path


class StyleWindow(QMainWindow):
    def __init__(self, settings: Settings = Settings(), output_dir: str | Path = ".", start: bool = True):
        super().__init__()
        self.setWindowTitle("fstvideo")
        self.output_dir = Path(output_dir)  # snapshots and recordings
        self.shown: Shown | None = None     # the newest result displayed
        self.frames_shown = 0
        self.worker = w = StyleWorker(settings)
        self.view = VideoView()
        self.view.help = list(SHORTCUTS)
        self.panel = p = ControlPanel(settings)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.view, 1)
        row.addWidget(p)
        self.setCentralWidget(body)
        demo = bundled_dir() / "demo.mp4"  # for people without a camera
        if demo.is_file():
            p.source.insertItem(p.source.count() - 1, "Demo clip", str(demo))
        self._select_source(settings.source)
        for name, path in list_styles().items():
            p.add_style(name, str(path))
        self._select_style(settings.style)
        p.source.activated.connect(self._on_source_activated)
        p.styles.currentRowChanged.connect(self._on_style_row)
        p.open_style.clicked.connect(self.open_style)
        p.strength.valueChanged.connect(lambda v: w.update(strength=v / 100))
        p.blend.changed.connect(lambda blend: w.update(blend=blend))  # live: the net only re-mixes
        p.resolution.currentIndexChanged.connect(lambda i: w.update(resolution=p.resolution.itemData(i)))
        p.color.toggled.connect(lambda on: w.update(preserve_color=on))
        p.smooth.toggled.connect(lambda on: w.update(smooth=on))
        p.side.toggled.connect(lambda on: w.update(side_by_side=on))
        p.mirror.toggled.connect(lambda on: w.update(mirror=on))
        p.snapshot.clicked.connect(self.snapshot)
        p.record.clicked.connect(self._on_record_button)
        p.help.clicked.connect(self.toggle_help)
        for method, keys in KEYS.items():
            act = QAction(method, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.triggered.connect(getattr(self, method))
            self.addAction(act)
        for i in range(9):
            act = QAction(f"style {i + 1}", self)
            act.setShortcut(QKeySequence(str(i + 1)))
            act.triggered.connect(lambda _=False, i=i: self.pick_style(i))
            self.addAction(act)
        self.vcam = VcamControls(self, w, p.vcam, settings.virtual_cam)  # checkable action + status label
        w.frameReady.connect(self._on_frame)
        w.message.connect(self._status)
        w.sourceFailed.connect(self._on_source_failed)
        w.sourceOpened.connect(lambda what: (self.view.set_message(None), self._status(f"playing {what}")))
        w.styleFailed.connect(self._on_style_failed)
        w.styleLoaded.connect(self._on_style_loaded)
        w.thumbnailReady.connect(self._on_thumbnail)
        w.snapshotSaved.connect(lambda path: self._status(f"snapshot saved: {path}"))
        w.recordingChanged.connect(self._on_recording)
        w.request_thumbnails(p.style_specs())
        self.resize(1100, 620)
        self.view.setFocus()
        if start:
            w.start()

    # -- styles ---------------------------------------------------------------------------
    def _select_style(self, spec: str) -> None:
        try:
            spec = str(resolve_style(spec))
        except FstError:
            pass  # the worker reports it
        if self.panel.style_row(spec) < 0:
            self.panel.add_style(Path(spec).stem, spec)
        self.panel.styles.setCurrentRow(self.panel.style_row(spec))

    def _on_style_row(self, row: int) -> None:
        if row >= 0 and self.panel.style_spec(row) != self.worker.settings().style:
            self.panel.blend.hide()  # until the worker has loaded the new file (styleLoaded)
            self.worker.update(style=self.panel.style_spec(row), blend=())  # blend names are per file

    def _on_style_loaded(self, spec: str, names: list) -> None:
        s = self.worker.settings()
        if spec == s.style:  # not a style already left again
            self.panel.blend.set_names(names, s.blend)

    def pick_style(self, i: int) -> None:
        if 0 <= i < self.panel.styles.count():
            self.panel.styles.setCurrentRow(i)

    def next_style(self, step: int = 1) -> None:
        n = self.panel.styles.count()
        if n:
            self.panel.styles.setCurrentRow((self.panel.styles.currentRow() + step) % n)

    def previous_style(self) -> None:
        self.next_style(-1)

    def add_style_file(self, path: str | Path) -> None:
        """Add a .safetensors file to the picker and switch to it (the worker loads it)."""
        spec = str(Path(path))
        if self.panel.style_row(spec) < 0:
            self.panel.add_style(Path(spec).stem, spec)
            self.worker.request_thumbnails([spec])
        self.panel.styles.setCurrentRow(self.panel.style_row(spec))

    def open_style(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open style", str(self.output_dir),
                                              "Style files (*.safetensors)")
        if path:
            self.add_style_file(path)

    def _on_style_failed(self, spec: str, why: str) -> None:
        self._status(why)
        current = self.worker.settings().style
        row = self.panel.style_row(spec)
        if row >= 0 and spec != current:
            with QSignalBlocker(self.panel.styles):  # no detour through the next row's style
                self.panel.styles.takeItem(row)  # a broken file leaves the picker
        if self.panel.style_row(current) >= 0:
            self.panel.styles.setCurrentRow(self.panel.style_row(current))

    def _on_thumbnail(self, spec: str, image: QImage) -> None:
        row = self.panel.style_row(spec)
        if row >= 0:
            self.panel.styles.item(row).setIcon(QIcon(QPixmap.fromImage(image)))

    # -- sources --------------------------------------------------------------------------
    def _select_source(self, source: int | str) -> None:
        combo = self.panel.source
        i = combo.findData(source)
        if i < 0:
            label = f"Camera {source}" if isinstance(source, int) else Path(source).name
            i = combo.count() - 1  # before "Open video file…"
            combo.insertItem(i, label, source)
        combo.setCurrentIndex(i)

    def set_source(self, source: int | str) -> None:
        """Switch to camera ``source`` (int) or a video file played in a loop (str)."""
        self._select_source(source)
        self.view.set_message(None)
        self.worker.update(source=source)

    def _on_source_activated(self, i: int) -> None:
        data = self.panel.source.itemData(i)
        if data == OPEN_FILE:
            self._select_source(self.worker.settings().source)
            self.open_video()
        else:
            self.set_source(data)

    def open_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open video file", str(self.output_dir),
            "Video, GIF or image (*.mp4 *.mkv *.mov *.webm *.avi *.gif *.png *.jpg *.jpeg);;All files (*)")
        if path:
            self.set_source(path)

    def _on_source_failed(self, why: str) -> None:
        self.view.set_message(f"{why}\n\nPick another source in the Source menu, or press O to open a video file.")
        self._status(why)

    # -- frames and outputs -----------------------------------------------------------------
    def _on_frame(self) -> None:
        shown = self.worker.take()
        if shown is not None:
            self.shown = shown
            self.frames_shown += 1
            self.view.set_image(shown.image, shown.stats)
            self.vcam.frame_shown(shown.stats)

    def snapshot(self) -> None:
        self.worker.snapshot(str(unique_path(self.output_dir, ".png")))

    def toggle_record(self) -> None:
        on = self.worker.settings().record is None
        self.worker.update(record=str(unique_path(self.output_dir, ".mp4")) if on else None)
        self.panel.record.setChecked(on)

    def _on_record_button(self, checked: bool) -> None:
        if checked != (self.worker.settings().record is not None):
            self.toggle_record()

    def _on_recording(self, on: bool, text: str) -> None:
        self.panel.record.setChecked(on)
        self._status(f"recording to {text}" if on else text)

    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    # -- toggles (also the keyboard shortcuts) ------------------------------------------------
    def toggle_color(self) -> None:
        self.panel.color.toggle()

    def toggle_smooth(self) -> None:
        if self.panel.smooth.isEnabled():
            self.panel.smooth.toggle()

    def toggle_side_by_side(self) -> None:
        self.panel.side.toggle()

    def toggle_virtual_cam(self) -> None:
        self.vcam.action.toggle()

    def toggle_mirror(self) -> None:
        self.panel.mirror.toggle()

    def cycle_resolution(self) -> None:
        combo = self.panel.resolution
        combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())

    def stronger(self) -> None:
        self.panel.strength.setValue(self.panel.strength.value() + STRENGTH_STEP)

    def weaker(self) -> None:
        self.panel.strength.setValue(self.panel.strength.value() - STRENGTH_STEP)

    def toggle_help(self) -> None:
        self.view.toggle_help()

    def toggle_stats(self) -> None:
        self.view.toggle_stats()

    def toggle_full_screen(self) -> None:
        full = not self.isFullScreen()
        self.panel.setVisible(not full)
        self.statusBar().setVisible(not full)
        self.showFullScreen() if full else self.showNormal()

    def escape(self) -> None:
        if self.isFullScreen():
            self.toggle_full_screen()
        elif self.view.help_visible:
            self.view.toggle_help()
        else:
            self.close()

    def closeEvent(self, event) -> None:
        """Stop the worker and wait for it: it closes the camera and finishes a recording.
        (Never ``terminate()``: that could leave a half-written file or a locked camera.)"""
        self.worker.stop()
        self.worker.wait()
        super().closeEvent(event)
