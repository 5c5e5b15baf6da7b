"""The control panel beside the video: widgets only. The window wires them to the worker."""
from __future__ import annotations

import hashlib

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .blend import BlendGroup
from .settings import RESOLUTIONS, Settings

CAMERAS = 4          # cameras 0..3 offered in the source menu
OPEN_FILE = "open"   # source-menu item data that opens a file dialog


def swatch(name: str, size: int = 48) -> QIcon:
    """A colour from the style's name: the placeholder until its thumbnail is rendered."""
    hue = int(hashlib.sha1(name.encode()).hexdigest()[:4], 16) % 360
    pm = QPixmap(size, size)
    pm.fill(QColor.fromHsv(hue, 140, 200))
    return QIcon(pm)


class ControlPanel(QWidget):
    def __init__(self, s: Settings, parent=None):
        super().__init__(parent)
        self.setFixedWidth(250)
        col = QVBoxLayout(self)
        self.source = QComboBox()
        for i in range(CAMERAS):
            self.source.addItem(f"Camera {i}", i)
        self.source.addItem("Open video file…", OPEN_FILE)
        col.addWidget(QLabel("Source"))
        col.addWidget(self.source)
        col.addWidget(QLabel("Style"))
        self.styles = QListWidget()
        self.styles.setIconSize(QSize(48, 48))
        col.addWidget(self.styles, 1)
        self.open_style = QPushButton("Open style…")
        col.addWidget(self.open_style)
        self.blend = BlendGroup()  # sliders for multi-style files, shown once the worker loaded one
        col.addWidget(self.blend)
        form = QFormLayout()
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 100)  # percent
        self.strength.setValue(round(s.strength * 100))
        form.addRow("Strength", self.strength)
        self.resolution = QComboBox()
        for label, value in RESOLUTIONS:
            self.resolution.addItem(label, value)
        values = [v for _, v in RESOLUTIONS]
        self.resolution.setCurrentIndex(values.index(s.resolution) if s.resolution in values else 0)
        form.addRow("Resolution", self.resolution)
        col.addLayout(form)
        self.color = self._check(col, "Preserve colour (C)", s.preserve_color)
        self.smooth = self._check(col, "Temporal smoothing (T)", s.smooth)
        self.side = self._check(col, "Side by side (B)", s.side_by_side)
        self.mirror = self._check(col, "Mirror camera (M)", s.mirror)
        row = QHBoxLayout()
        self.snapshot = QPushButton("Snapshot (S)")
        self.record = QPushButton("Record (V)")
        self.record.setCheckable(True)
        row.addWidget(self.snapshot)
        row.addWidget(self.record)
        col.addLayout(row)
        self.vcam = QPushButton("Virtual camera (Ctrl+Shift+V)")  # for call apps and OBS
        self.vcam.setCheckable(True)
        self.vcam.setChecked(s.virtual_cam)
        col.addWidget(self.vcam)
        self.help = QPushButton("Keyboard help (F1)")
        col.addWidget(self.help)
        for child in self.findChildren(QWidget):
            child.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the shortcuts, not the controls

    @staticmethod
    def _check(col: QVBoxLayout, text: str, value: bool) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(value)
        col.addWidget(box)
        return box

    def add_style(self, name: str, spec: str) -> QListWidgetItem:
        item = QListWidgetItem(swatch(name), name)
        item.setData(Qt.ItemDataRole.UserRole, spec)
        item.setToolTip(spec)
        self.styles.addItem(item)
        return item

    def style_specs(self) -> list[str]:
        return [self.styles.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.styles.count())]

    def style_row(self, spec: str) -> int:
        specs = self.style_specs()
        return specs.index(spec) if spec in specs else -1

    def style_spec(self, row: int) -> str:
        return self.styles.item(row).data(Qt.ItemDataRole.UserRole)
