"""The list holds a window of the newest events: paging older rows in, whole-history counts, and search over the
whole history — the model alone, then the real ClientService on a real 20,000-row history under TrayApp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QTableView

from tests.client.historyfill import copy_data_dir, fill, unread_in
from tests.support.rows import make_row
from tests.ui.fakes import RecordingNotifier, UrlCatcher
from trayapp.client.history import FILE_NAME
from trayapp.settings import Settings
from trayapp.ui.app import TrayApp
from trayapp.ui.client_service import HISTORY_WINDOW, ClientService
from trayapp.ui.list_model import BATCH, PAGE, SEARCH_LIMIT, HistoryModel, RowFilter

ROOT = QModelIndex()


class Requests:
    """Records a model's older_requested / search_requested and its resets and insertions."""

    def __init__(self, model: HistoryModel) -> None:
        self.older: list[tuple[str, int]] = []
        self.searches: list[tuple[int, Any, int]] = []
        self.resets = 0
        self.inserted: list[tuple[int, int]] = []
        model.older_requested.connect(lambda before, limit: self.older.append((before, limit)))
        model.search_requested.connect(lambda rid, flt, limit: self.searches.append((rid, flt, limit)))
        model.modelReset.connect(self._reset)
        model.rowsInserted.connect(lambda _parent, first, last: self.inserted.append((first, last)))

    def _reset(self) -> None:
        self.resets += 1


def window_model(newest: int, held: int, total: int) -> HistoryModel:
    """Events ``newest`` down to ``newest - held + 1`` held, ``total`` in the history."""
    model = HistoryModel()
    model.set_rows([make_row(i) for i in range(newest, newest - held, -1)])
    model.set_counts(total, 3)
    return model


def older_rows(first: int, count: int) -> list[Any]:
    return [make_row(i, read=True) for i in range(first, first - count, -1)]


def test_scrolling_past_the_window_asks_for_older_rows_once(qtbot: Any) -> None:
    model = window_model(newest=2000, held=BATCH + 100, total=5000)
    requests = Requests(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.setModel(model)
    view.show()
    qtbot.waitExposed(view)
    while model.rowCount() < model.held:  # the view exposes the held rows as it is scrolled
        view.scrollToBottom()
        qtbot.waitUntil(lambda: model.rowCount() == model.held or bool(requests.older), timeout=5000)
    assert not requests.older
    with qtbot.waitSignal(model.older_requested, timeout=5000):
        view.scrollToBottom()
    oldest = f"evt-{2000 - model.held + 1}"
    assert requests.older == [(oldest, PAGE)]
    assert not model.canFetchMore(ROOT)  # one request in flight
    model.fetchMore(ROOT)
    view.scrollToBottom()
    assert requests.older == [(oldest, PAGE)]

    held = model.held
    model.add_older("evt-somewhere-else", older_rows(2000 - held, PAGE))  # not what was asked: ignored
    assert model.held == held
    resets = requests.resets
    model.add_older(oldest, older_rows(2000 - held, PAGE))
    assert model.held == held + PAGE and model.rowCount() == held + PAGE
    assert requests.inserted[-1] == (held, held + PAGE - 1) and requests.resets == resets  # inserted, no reset
    assert model.received(held).id == f"evt-{2000 - held}"
    assert model.canFetchMore(ROOT)  # the next page when scrolled again
    assert model.total == 5000 and model.unread_count == 3  # the history's counts, not the window's


def test_a_short_page_ends_the_paging(qtbot: Any) -> None:
    model = window_model(newest=100, held=50, total=80)
    requests = Requests(model)
    model.fetchMore(ROOT)
    assert requests.older == [("evt-51", PAGE)]
    model.add_older("evt-51", older_rows(50, 30))
    assert model.held == 80 and model.holds_everything
    assert not model.canFetchMore(ROOT)


def test_counts_follow_the_client_and_local_changes(qtbot: Any) -> None:
    model = window_model(newest=10, held=10, total=20_000)
    model.set_counts(20_000, 500)
    with qtbot.waitSignal(model.unread_changed) as unread:
        model.add_rows([make_row(11)])
    assert unread.args == [501] and model.total == 20_001
    model.set_read(["evt-11"], True)  # at once, before the client confirms
    assert model.unread_count == 500
    model.set_counts(20_001, 500)  # the client's confirmation
    model.set_all_read()
    assert model.unread_count == 0


def test_search_beyond_the_window_shows_the_history_matches(qtbot: Any) -> None:
    model = window_model(newest=5000, held=100, total=5000)
    requests = Requests(model)
    flt = RowFilter(needle="question 12")
    model.apply_filter(flt)
    assert model.searching
    assert [(rid, f, limit) for rid, f, limit in requests.searches] == [(requests.searches[0][0], flt, SEARCH_LIMIT)]
    first = requests.searches[0][0]
    model.apply_filter(RowFilter(needle="question 123"))  # typing on: the first answer is stale
    second = requests.searches[1][0]
    model.add_search_results(first, [make_row(12)], False)
    assert model.results is None
    found = [make_row(i) for i in (1239, 1238, 1237, 1236, 1235, 1234, 1233, 1232, 1231, 1230, 123)]
    with qtbot.waitSignal(model.modelReset):
        model.add_search_results(second, found, True)
    assert model.results == (11, True) and not model.searching
    assert [model.received(r).id for r in range(model.rowCount())] == [row.event.id for row in found]
    assert model.find("evt-123") is not None  # results can be opened
    model.add_rows([make_row(5001)])  # live events still arrive on top (the proxy filters them)
    assert model.received(0).id == "evt-5001" and model.held == 101

    model.apply_filter(None)  # cleared: back to the window, with the live event
    assert model.results is None
    assert model.rowCount() == 101 and model.received(0).id == "evt-5001"
    assert model.find("evt-123") is None


def test_a_filter_needs_no_search_when_the_window_holds_everything(qtbot: Any) -> None:
    model = window_model(newest=100, held=100, total=100)
    requests = Requests(model)
    model.apply_filter(RowFilter(needle="question 12"))
    model.apply_filter(RowFilter(ids=frozenset({"evt-3"})))  # the catch-up restriction: recent events
    assert not requests.searches and not model.searching


# --- the real client on a real history ---------------------------------------------------------------

BIG = 20_000
TEMPLATE = "https://acme.example.com/inbox/case/{case_id}"


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / FILE_NAME
    fill(path, BIG)
    return path


@pytest.fixture
def real_app(qtbot: Any, big_history: Path, tmp_path: Path) -> Iterator[TrayApp]:
    client = ClientService(Settings(), data_dir=copy_data_dir(big_history, tmp_path / "data"),
                           token_loader=lambda _url: None)
    settings = Settings(url_template=TEMPLATE)
    app = TrayApp(client, settings, use_tray=False, notifier=RecordingNotifier(), save_settings=lambda _s: None)
    qtbot.addWidget(app.window)
    client.start()
    yield app
    client.stop()
    app.window.close()


@pytest.fixture
def urls() -> Iterator[UrlCatcher]:
    from PySide6.QtGui import QDesktopServices

    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("https", catcher, "open")
    yield catcher
    QDesktopServices.unsetUrlHandler("https")


def test_real_history_window_counts_paging_search(real_app: TrayApp, qtbot: Any, urls: UrlCatcher) -> None:
    app, model, window = real_app, real_app.model, real_app.window
    qtbot.waitUntil(lambda: model.total == BIG, timeout=20_000)
    unread = unread_in(BIG)
    assert model.held == HISTORY_WINDOW
    assert window.windowTitle() == f"{unread} unread"
    assert window.count_label.text() == f"{BIG} events, {unread} unread"
    assert f"{unread} unread alerts" in app.tray.tooltip()

    window.show()
    qtbot.waitExposed(window)
    while model.held == HISTORY_WINDOW:  # scroll to the end until the client delivered an older page
        shown = model.rowCount()
        window.table.scrollToBottom()
        qtbot.waitUntil(lambda: model.rowCount() > shown or model.held > HISTORY_WINDOW, timeout=10_000)  # noqa: B023
    qtbot.waitUntil(lambda: model.held == HISTORY_WINDOW + PAGE, timeout=10_000)
    assert model.received(HISTORY_WINDOW).id == f"h-{BIG - 1 - HISTORY_WINDOW}"

    window.search.setText("question 1234")
    window.apply_search()
    qtbot.waitUntil(lambda: model.results is not None, timeout=10_000)
    shown = [window.proxy.index(r, 0).data(257) for r in range(window.proxy.rowCount())]
    assert shown == [*(f"h-{i}" for i in range(12349, 12339, -1)), "h-1234"]
    assert window.search_hint.text() == "11 matches in the whole history."

    window.table.setCurrentIndex(window.proxy.index(8, 0))  # h-12341, unread (12341 % 7 == 0)
    assert model.is_unread("h-12341")
    window.open_current()  # an event outside the window opens its conversation and is marked read
    qtbot.waitUntil(lambda: bool(urls.urls), timeout=5000)
    assert urls.urls == ["https://acme.example.com/inbox/case/112341"]
    assert not model.is_unread("h-12341")
    qtbot.waitUntil(lambda: model.unread_count == unread - 1, timeout=5000)

    window.search.clear()
    window.apply_search()
    assert model.results is None and window.search_hint.isHidden()
    assert model.rowCount() == model.held

    window.filter_combo.setCurrentText("Chat in queue")  # the kind filter covers the whole history too
    qtbot.waitUntil(lambda: model.results is not None, timeout=10_000)
    assert model.results == (SEARCH_LIMIT, True)
    assert "newest 1,000 matches" in window.search_hint.text()

    window.mark_all_read_requested.emit()
    qtbot.waitUntil(lambda: model.unread_count == 0 and "unread" not in app.tray.tooltip(), timeout=10_000)
    assert model.total == BIG


def test_opening_an_event_the_list_does_not_hold_asks_the_history(real_app: TrayApp, qtbot: Any,
                                                                  urls: UrlCatcher) -> None:
    app, model = real_app, real_app.model
    qtbot.waitUntil(lambda: model.total == BIG, timeout=20_000)
    assert model.find("h-7") is None  # far older than the window
    unread = model.unread_count
    app.open_target("h-7")  # e.g. a popup clicked long ago
    qtbot.waitUntil(lambda: bool(urls.urls), timeout=10_000)
    assert urls.urls == ["https://acme.example.com/inbox/case/100007"]
    qtbot.waitUntil(lambda: model.unread_count == unread - 1, timeout=10_000)  # h-7 was unread: now read
    app.open_event("no-such-event")
    qtbot.waitUntil(lambda: app.window.isVisible(), timeout=10_000)  # unknown: the list opens instead
    assert urls.urls == ["https://acme.example.com/inbox/case/100007"]
