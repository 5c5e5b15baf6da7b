"""The "Blend" group of the control panel: one slider per style of a multi-style file
(conditional instance norm, one net). Widgets only: the window sends the weights to the worker
as ``Settings.blend``; the Stylizer normalises them (``fstvideo.stylizer.blend_weights``)."""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QFormLayout, QGroupBox, QSlider


def positions(names: list[str], blend: tuple[tuple[str, float], ...]) -> list[int]:
    """Slider positions (0-100) showing ``blend``; () (or nothing usable) = 100 on the first
    style, 0 on the others. Weights above 1 are scaled so the largest is 100 (same ratios)."""
    first = [100] + [0] * (len(names) - 1)
    weights = dict.fromkeys(names, 0.0)
    for name, w in blend:
        if name in weights:
            weights[name] += max(0.0, float(w))
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return first
    scale = 100.0 if top <= 1.0 else 100.0 / top
    return [min(100, round(weights[n] * scale)) for n in names]


class BlendGroup(QGroupBox):
    """Hidden unless the loaded style file has at least two (non-"photo") styles."""
    changed = pyqtSignal(tuple)  # ((name, weight 0-1), ...) for Settings.blend; never all zero

    def __init__(self, parent=None):
        super().__init__("Blend", parent)
        self._form = QFormLayout(self)
        self.sliders: list[tuple[str, QSlider]] = []
        self.hide()

    def set_names(self, names: list[str], blend: tuple[tuple[str, float], ...] = ()) -> None:
        """One slider per name, at the positions of ``blend``; hidden for fewer than 2 names.
        Sets positions without emitting ``changed``."""
        while self._form.rowCount():
            self._form.removeRow(0)  # deletes the old sliders and labels
        self.sliders = []
        if len(names) < 2:
            self.hide()
            return
        for name, pos in zip(names, positions(names, blend)):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)  # relative weight, percent
            slider.setValue(pos)
            slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
            slider.setToolTip(f"weight of {name}")
            slider.valueChanged.connect(self._emit)
            self._form.addRow(name, slider)
            self.sliders.append((name, slider))
        self.show()

    def blend(self) -> tuple[tuple[str, float], ...]:
        return tuple((name, s.value() / 100) for name, s in self.sliders)

    def _emit(self) -> None:
        blend = self.blend()
        if any(w > 0 for _, w in blend):  # all zero is no blend: keep the last valid one
            self.changed.emit(blend)
