"""Find the bundled resources (icons) both in an installed wheel and in the source tree.

In a wheel (and the PyInstaller bundle) the top-level ``resources/`` folder is the package
``trayapp.assets``; in a checkout it sits next to the ``trayapp`` package. No Qt here: callers
turn paths into icons.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent / "resources"


@cache
def resource_dir() -> Path:
    """The folder holding the resources: the packaged one first (package ``trayapp.assets``, or a
    ``trayapp/resources`` folder), else the checkout's top-level ``resources/``."""
    for package, sub in (("trayapp.assets", ""), ("trayapp", "resources")):
        try:
            packaged = importlib.resources.files(package)
            if sub:
                packaged = packaged / sub
            probe = packaged / "app-icon.svg"  # a real path even for a namespace package's MultiplexedPath
            if probe.is_file():
                return Path(str(probe)).parent
        except (ModuleNotFoundError, NotADirectoryError, TypeError):  # not installed that way
            continue
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
