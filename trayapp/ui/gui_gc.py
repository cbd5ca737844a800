"""Python's cyclic garbage collector, run only in the GUI thread.

Left to itself, the collector runs in whichever thread happens to allocate when a threshold is crossed: the client's
worker, a notifier thread, a link check. If the garbage it finds holds Qt objects (a closed dialog, a timer, a D-Bus
helper), they are destroyed in that thread — off the thread that owns them — and Qt crashes the process. So while the
app runs, automatic collection is off and a GUI-thread timer collects instead, generation by generation, with the
interpreter's own thresholds (qutebrowser's approach).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer, Slot

INTERVAL_MS = 1000  # often enough that garbage never piles up; one check costs a few microseconds


class GuiThreadCollector(QObject):
    """``start()`` turns automatic collection off and collects from a timer; ``stop()`` restores how it was."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled: bool | None = None

    def start(self) -> None:
        if self._was_enabled is None:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled is not None:
            if self._was_enabled:
                gc.enable()
            self._was_enabled = None

    @Slot()
    def collect_due(self) -> None:
        collect_due()


def collect_due() -> None:
    """Collect the oldest generation whose count passed its threshold (what automatic collection would have done;
    an older generation's collection includes the younger ones). Call it from the GUI thread."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return
