"""The desktop widgets and notification back-ends: no business logic, no network.

Importing this package applies :func:`trayapp.ui.qt_compat.guard_none_refcount` (a PySide6 6.12.0 bug that
aborts CPython 3.11 after many ``void`` Qt calls; a no-op on Python >= 3.12).
"""

from trayapp.ui.qt_compat import guard_none_refcount

guard_none_refcount()
