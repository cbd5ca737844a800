"""Work-arounds for bugs of the Qt binding in use. No widgets here.

PySide6 6.12.0 returns ``None`` from every ``void`` method, and ``True`` from ``SignalInstance.emit()``, without
taking a reference. From Python 3.12 on these objects are immortal and nothing happens; on Python 3.11 each such
call (``QTimer.stop()``, ``beginInsertRows()``, ``setToolTip()``, every ``signal.emit(...)``) lowers the object's
reference count by one until CPython aborts with "Fatal Python error: none_dealloc" / "bool_dealloc" — ``True``
starts with a few hundred references, so a few thousand signal emissions are enough.
(``tests/ui/test_runtime.py`` shows it; the real fix is Python >= 3.12 or a PySide6 without the bug.)

:func:`guard_none_refcount` gives ``None``, ``True`` and ``False`` a huge reference count on Python < 3.12, which
is what 3.12's immortality does: they are static objects that are never freed anyway, so only the counters change.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40
_done = False


def guard_none_refcount() -> bool:
    """Apply the work-around once (CPython < 3.12 only); True when it was applied now."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _BOOST  # ob_refcnt is a PyObject's first field
    _done = True
    return True
