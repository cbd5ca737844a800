"""Icons: the SVGs in ``resources/`` and the tray icon with its unread badge painted on."""

from __future__ import annotations

import enum
from functools import cache, lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap

from trayapp.resources import resource_path

SIZES = (16, 22, 24, 32, 48, 64, 128)


class TrayLook(enum.Enum):
    """Which picture the tray shows."""

    CONNECTED = "tray-connected.svg"
    CONNECTING = "tray-connecting.svg"
    OFFLINE = "tray-offline.svg"
    ERROR = "tray-error.svg"  # needs the agent (a new link): red, and another shape than offline
    DND = "tray-dnd.svg"


@cache
def app_icon() -> QIcon:
    return QIcon(str(resource_path("app-icon.svg")))


def app_icon_path() -> str:
    return str(resource_path("app-icon.svg"))


@cache
def _base(look: TrayLook) -> QIcon:
    return QIcon(str(resource_path(look.value)))


def badge_text(count: int) -> str:
    return "" if count <= 0 else (str(count) if count < 100 else "99+")


def _paint_badge(painter: QPainter, size: int, text: str) -> None:
    height = max(8.0, size * 0.56)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, int(height * 0.78 if len(text) < 3 else height * 0.62)))
    painter.setFont(font)
    text_width = painter.fontMetrics().horizontalAdvance(text)
    width = max(height, text_width + height * 0.45)
    width = min(width, float(size))
    rect = QRectF(size - width, 0, width, height)
    path = QPainterPath()
    path.addRoundedRect(rect, height / 2, height / 2)
    painter.setPen(QPen(QColor("#ffffff"), max(1.0, size / 32)))
    painter.setBrush(QColor("#d13438"))
    painter.drawPath(path)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _paint_warning(painter: QPainter, size: int) -> None:
    d = size * 0.42
    rect = QRectF(0, size - d, d, d)
    painter.setPen(QPen(QColor("#1b1b1b"), max(1.0, size / 32)))
    painter.setBrush(QColor("#ffb900"))
    painter.drawEllipse(rect)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, int(d * 0.8)))
    painter.setFont(font)
    painter.setPen(QColor("#1b1b1b"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "!")


@lru_cache(maxsize=64)
def tray_icon(look: TrayLook, unread: int = 0, warning: bool = False) -> QIcon:
    """The tray picture for a state, with the unread count (capped at 99+) and a warning mark."""
    text = badge_text(unread)
    base = _base(look)
    if not text and not warning:
        return base
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        base.paint(painter, 0, 0, size, size)
        if warning:
            _paint_warning(painter, size)
        if text:
            _paint_badge(painter, size, text)
        painter.end()
        icon.addPixmap(pixmap)
    return icon
