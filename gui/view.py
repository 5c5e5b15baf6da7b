"""The video area of the webcam window: the newest image fitted to the widget (aspect kept),
with overlays painted on top: frame rate and latency, a recording mark, a fault message, and
the keyboard help. Painting only scales an image the worker already made, so resizing and
full screen cost nothing in the worker."""
from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from .settings import FrameStats


def stats_text(s: FrameStats) -> str:
    """One line: '12.3 fps · 85 ms · 1280x720 → net 427x240 (auto) · 5 dropped'."""
    net = f" → net {s.net_width}x{s.net_height}" if (s.net_width, s.net_height) != (s.width, s.height) else ""
    net += " (auto)" if s.auto else ""  # the size the auto resolution picked, which changes by itself
    return (f"{s.fps:.1f} fps · {s.latency_ms:.0f} ms · {s.width}x{s.height}{net}"
            f" · {s.dropped} dropped" + (f" · {s.style}" if s.style else ""))


class VideoView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.stats: FrameStats | None = None
        self.message: str | None = None      # a fault or hint shown in the middle
        self.help: list[tuple[str, str]] = []  # (keys, what) rows of the help overlay
        self.help_visible = False
        self.stats_visible = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we fill every pixel

    def set_image(self, image: QImage, stats: FrameStats) -> None:
        self.image, self.stats = image, stats
        self.update()

    def set_message(self, text: str | None) -> None:
        self.message = text
        self.update()

    def toggle_help(self) -> None:
        self.help_visible = not self.help_visible
        self.update()

    def toggle_stats(self) -> None:
        self.stats_visible = not self.stats_visible
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image lands: as large as fits, centred, aspect kept."""
        if self.image is None or self.image.isNull():
            return QRectF()
        iw, ih = self.image.width(), self.image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(16, 16, 18))
        if self.image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self.image_rect(), self.image)
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        p.setFont(font)
        if self.stats is not None and self.stats_visible:
            self._label(p, stats_text(self.stats), top_left=True)
        if self.stats is not None and self.stats.recording:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(220, 30, 30))
            p.drawEllipse(QRectF(self.width() - 70, 12, 12, 12))
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(self.width() - 54, 8, 50, 20), Qt.AlignmentFlag.AlignVCenter, "REC")
        if self.message:
            self._box(p, self.message)
        elif self.image is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "Starting the source and the style…")
        if self.help_visible:
            self._help(p)
        p.end()

    def _label(self, p: QPainter, text: str, top_left: bool) -> None:
        fm = p.fontMetrics()
        r = QRectF(8, 8, fm.horizontalAdvance(text) + 16, fm.height() + 8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(r, 4, 4)
        p.setPen(QColor(235, 235, 235))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)

    def _box(self, p: QPainter, text: str) -> None:
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        width = min(self.width() - 40, 520)
        bound = p.fontMetrics().boundingRect(0, 0, width - 24, 1000, int(flags), text)
        r = QRectF((self.width() - width) / 2, (self.height() - bound.height() - 24) / 2,
                   width, bound.height() + 24)
        p.setPen(QPen(QColor(230, 90, 70), 2))
        p.setBrush(QColor(20, 20, 20, 220))
        p.drawRoundedRect(r, 8, 8)
        p.setPen(QColor(250, 250, 250))
        p.drawText(r.adjusted(12, 12, -12, -12), flags, text)

    def _help(self, p: QPainter) -> None:
        fm = p.fontMetrics()
        line = fm.height() + 4
        keys_w = max((fm.horizontalAdvance(k) for k, _ in self.help), default=0) + 24
        text_w = max((fm.horizontalAdvance(t) for _, t in self.help), default=0)
        w, h = keys_w + text_w + 32, line * (len(self.help) + 1) + 24
        r = QRectF((self.width() - w) / 2, max(8.0, (self.height() - h) / 2), w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 200))
        p.drawRoundedRect(r, 10, 10)
        y = r.top() + 12
        p.setPen(QColor(255, 220, 120))
        p.drawText(QRectF(r.left() + 16, y, w - 32, line), Qt.AlignmentFlag.AlignLeft, "Keyboard shortcuts")
        for keys, what in self.help:
            y += line
            p.setPen(QColor(255, 220, 120))
            p.drawText(QRectF(r.left() + 16, y, keys_w, line), Qt.AlignmentFlag.AlignLeft, keys)
            p.setPen(QColor(240, 240, 240))
            p.drawText(QRectF(r.left() + 16 + keys_w, y, text_w + 8, line), Qt.AlignmentFlag.AlignLeft, what)
