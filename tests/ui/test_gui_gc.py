"""Cyclic garbage is collected in the GUI thread only while the app runs (Qt objects die where they live)."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar

from tests.ui.fakes import FakeClient, RecordingNotifier
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.gui_gc import GuiThreadCollector


class Cycle:
    """A reference cycle that records the thread the collector freed it in."""

    freed_in: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_in.append(threading.current_thread().name)


def make_garbage_then_allocate_in_a_worker() -> list[list[int]]:
    """A cycle becomes garbage, then a worker thread allocates far past the gen-0 threshold (a collection is due)."""
    Cycle()  # unreachable at once, freed only by the cyclic collector
    kept: list[list[int]] = []
    worker = threading.Thread(target=lambda: kept.extend([i] for i in range(50_000)), name="worker")
    worker.start()
    worker.join()
    return kept


def test_without_the_collector_a_worker_thread_frees_gui_garbage(qapp) -> None:
    gc.enable()  # as outside the tests (tests/conftest.py turns automatic collection off)
    Cycle.freed_in.clear()
    gc.collect()
    kept = make_garbage_then_allocate_in_a_worker()
    gc.collect()
    del kept
    assert Cycle.freed_in == ["worker"], "the hazard the collector exists for (automatic collection off its thread)"


def test_the_collector_frees_garbage_in_the_gui_thread_only(qapp) -> None:
    gc.enable()
    collector = GuiThreadCollector()
    Cycle.freed_in.clear()
    gc.collect()
    collector.start()
    try:
        assert not gc.isenabled()
        kept = make_garbage_then_allocate_in_a_worker()
        assert Cycle.freed_in == [], "nothing is collected in the worker"
        collector.collect_due()  # the GUI timer's tick: the due generation is collected here
        assert Cycle.freed_in == [threading.main_thread().name]
        del kept
    finally:
        collector.stop()
    assert gc.isenabled(), "stop() restores automatic collection"


def test_the_app_runs_the_collector_from_its_construction_to_quit(qtbot) -> None:
    gc.enable()
    app = TrayApp(FakeClient(), Settings(), use_tray=False, notifier=RecordingNotifier(), save_settings=list().append)
    qtbot.addWidget(app.window)
    assert not gc.isenabled(), "on before the notifier's and the client's threads start"
    app.start()
    try:
        assert not gc.isenabled()
    finally:
        app.quit()
    assert gc.isenabled()
