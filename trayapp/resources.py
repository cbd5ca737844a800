"""Find the bundled resources (icons) both in an installed wheel and in the source tree.

In a wheel the top-level ``resources/`` folder is packaged as ``trayapp/resources``; in a
checkout it sits next to the ``trayapp`` package. No Qt here: callers turn paths into icons.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent / "resources"


@cache
def resource_dir() -> Path:
    """The folder holding the resources: the packaged one first, else the checkout's."""
    try:
        packaged = importlib.resources.files("trayapp") / "resources"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, NotADirectoryError, TypeError):  # pragma: no cover - zipimport etc.
        pass
    return _SOURCE_TREE


def resource_path(name: str) -> Path:
    """The path of one resource file, e.g. ``resource_path("tray-connected.svg")``.

    Raises :class:`FileNotFoundError` when it is missing, with the places that were searched.
    """
    path = resource_dir() / name
    if path.is_file():
        return path
    fallback = _SOURCE_TREE / name
    if fallback.is_file():
        return fallback
    raise FileNotFoundError(f"resource {name!r} not found in {resource_dir()} or {_SOURCE_TREE}")
