"""The Qt line: only ``trayapp/ui/`` (and the entry points that start the GUI) may import PySide6.

Two checks: no module outside the line names PySide6 in an import (also inside a function), and every module
outside it imports in a fresh interpreter where PySide6 cannot be imported at all (so no transitive import either).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import trayapp

PACKAGE = Path(trayapp.__file__).parent
#: Allowed to import PySide6: the UI package (with the composition root, ui/app.py) and the commands that start it.
QT_SIDE = ("ui/", "cli.py", "__main__.py", "demo/app.py")


def _modules_outside() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not p.relative_to(PACKAGE).as_posix().startswith(QT_SIDE))


def _imports_qt(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        if any(n == "PySide6" or n.startswith("PySide6.") or n.startswith("trayapp.ui") for n in names):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_ui_names_pyside6() -> None:
    found = {str(p.relative_to(PACKAGE)): lines for p in _modules_outside() if (lines := _imports_qt(p))}
    assert found == {}, f"PySide6 / trayapp.ui imported outside trayapp/ui (file: lines): {found}"


def test_the_checks_see_the_qt_side() -> None:
    assert _imports_qt(PACKAGE / "ui" / "tray.py")
    assert any(p.name == "session.py" for p in _modules_outside())


def test_every_module_outside_ui_imports_without_pyside6() -> None:
    names = ["trayapp." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in _modules_outside()]
    names = [n.removesuffix(".__init__") for n in names]
    code = ("import sys\nsys.modules['PySide6'] = None\nimport importlib\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "assert not any(m.startswith('PySide6') and sys.modules[m] is not None for m in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
