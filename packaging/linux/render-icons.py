#!/usr/bin/env python3
"""Render the app icon (resources/app-icon.svg) into everything the installers need, with PySide6 only.

    python packaging/linux/render-icons.py OUT_DIR [--svg resources/app-icon.svg] [--ico FILE] [--icns FILE]

writes ``OUT_DIR/hicolor/{16,22,24,32,48,64,128,256}x{N}/apps/io.acquire.trayapp.png`` and
``OUT_DIR/hicolor/scalable/apps/io.acquire.trayapp.svg`` (the freedesktop icon theme layout), and optionally a
Windows ``.ico`` and a macOS ``.icns`` (PNG-compressed entries, written here: Qt's
ico/icns plugins write one image per file). Nothing binary is committed: the
bundle build (packaging/pyinstaller/trayapp.spec) and install-desktop-files.sh run this.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[2]
ICON_NAME = "io.acquire.trayapp"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
ICO_SIZES = (16, 24, 32, 48, 64, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit("render-icons: PNG encoding failed")
    buffer.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico with one PNG-compressed 32-bit image per size (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, png in sorted(pngs.items()):
        side = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(blobs))
        blobs += png
    return header + entries + blobs


# ICNS element types holding PNG data, by pixel size (the @2x types reuse the bigger renders).
ICNS_TYPES = {
    16: [b"icp4"],
    32: [b"icp5", b"ic11"],
    64: [b"icp6", b"ic12"],
    128: [b"ic07"],
    256: [b"ic08", b"ic13"],
    512: [b"ic09", b"ic14"],
    1024: [b"ic10"],
}


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns made of PNG elements."""
    body = b"".join(
        kind + struct.pack(">I", 8 + len(png)) + png for size, png in sorted(pngs.items()) for kind in ICNS_TYPES[size]
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path, help="gets hicolor/<size>/apps/io.acquire.trayapp.png")
    parser.add_argument("--svg", type=Path, default=ROOT / "resources" / "app-icon.svg")
    parser.add_argument("--ico", type=Path, help="also write a Windows icon")
    parser.add_argument("--icns", type=Path, help="also write a macOS icon")
    args = parser.parse_args(argv)

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(args.svg))
    if not renderer.isValid():
        raise SystemExit(f"render-icons: {args.svg} is not a valid SVG")
    hicolor = args.out_dir / "hicolor"
    for size in SIZES:
        target = hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not render(renderer, size).save(str(target), "PNG"):
            raise SystemExit(f"render-icons: cannot write {target}")
    scalable = hicolor / "scalable" / "apps" / f"{ICON_NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.svg, scalable)
    if args.ico:
        args.ico.parent.mkdir(parents=True, exist_ok=True)
        args.ico.write_bytes(ico_bytes({s: png_bytes(render(renderer, s)) for s in ICO_SIZES}))
    if args.icns:
        args.icns.parent.mkdir(parents=True, exist_ok=True)
        args.icns.write_bytes(icns_bytes({s: png_bytes(render(renderer, s)) for s in ICNS_SIZES}))
    print(f"render-icons: {len(SIZES)} PNG sizes + scalable SVG in {hicolor}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
