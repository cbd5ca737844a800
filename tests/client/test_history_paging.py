"""Paging, whole-history counts and search: ``History.scan`` / ``matching`` (the SQL pre-filter of the list's
``RowFilter`` against a plain Python filter) and ``ClientService`` on a real 20,000-row history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.historyfill import copy_data_dir, fill, unread_in
from trayapp.client.history import FILE_NAME, History, Search, filter_sql
from trayapp.model.rows import HistoryRow, RowFilter
from trayapp.settings import Settings
from trayapp.ui.client_service import HISTORY_WINDOW, ClientService

pytestmark = pytest.mark.timeout(120)

BIG = 20_000


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / FILE_NAME
    fill(path, BIG)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Read only: the tests using it do not change it."""
    path = tmp_path_factory.mktemp("small") / FILE_NAME
    fill(path, 3000)
    with History(path) as history:
        yield history


def ids(rows: list[HistoryRow]) -> list[str]:
    return [row.event.id for row in rows]


def test_scan_walks_the_whole_history_newest_first(small: History) -> None:
    seen: list[str] = []
    before: int | None = None
    pages = 0
    while True:
        rows, before = small.scan(before, 700)
        seen += ids(rows)
        pages += 1
        if before is None:
            break
    assert seen == [f"h-{i}" for i in range(2999, -1, -1)]
    assert pages == 5


FILTERS = [
    RowFilter(needle="question 12"),
    RowFilter(needle="strasse"),  # "Straße".casefold(): only Python knows; the SQL pre-filter must let it through
    RowFilter(needle="gruß"),  # a non-ASCII needle: no text pre-filter
    RowFilter(needle="kelvin k"),  # the Kelvin sign casefolds to k
    RowFilter(needle="ann_o%b"),  # LIKE wildcards in the needle are literal
    RowFilter(needle="chat in queue"),  # a kind label
    RowFilter(needle="in queue"),
    RowFilter(needle="other ev"),  # part of the label of "other" events without an acquire event name
    RowFilter(needle="jürgen"),
    RowFilter(needle="transferred"),  # an "other" event's label (its acquire event)
    RowFilter(needle="agent online"),
    RowFilter(needle="whatsapp"),
    RowFilter(needle="nothing like this"),
    RowFilter(keys=frozenset({"chat.status/queue"})),
    RowFilter(keys=frozenset({"other"})),
    RowFilter(keys=frozenset({"case.new", "agent.status"}), needle="ada"),
    RowFilter(unread_only=True),
    RowFilter(unread_only=True, keys=frozenset({"chat.message"}), needle="email"),
    RowFilter(ids=frozenset({"h-1", "h-2999", "nope"})),
]


@pytest.mark.parametrize("row_filter", FILTERS, ids=repr)
def test_matching_finds_what_the_list_filter_accepts(small: History, row_filter: RowFilter) -> None:
    everything = small.recent()
    expected = [row for row in everything if row_filter(row)]
    search = Search(small, row_filter, 250, chunk=400)
    steps = 1
    while not search.step():
        steps += 1
    assert ids(search.found) == ids(expected[:250])
    assert search.more == (len(expected) > 250)
    assert steps <= 3000 // 400 + 1


def test_sql_pre_filter_narrows(small: History) -> None:
    queue = RowFilter(keys=frozenset({"chat.status/queue"}))
    rows, _ = small.scan(None, 5000, *filter_sql(queue))
    assert len(rows) == sum(1 for i in range(3000) if i % 9 == 2) and all(map(queue, rows))  # exact in SQL
    text = RowFilter(needle="question 12")
    rows, _ = small.scan(None, 5000, *filter_sql(text))
    # only true matches and rows SQLite cannot judge (non-ASCII text, agent status labels) reach the Python check
    assert all(text(row) or not (row.event.event.contact_name or "é").isascii()
               or row.event.event.kind == "agent.status" or row.event.event.text for row in rows)
    assert len(rows) < 2000


class Recorder:
    def __init__(self, service: ClientService) -> None:
        self.loaded: list[list[HistoryRow]] = []
        self.counts: list[tuple[int, int]] = []
        self.older: list[tuple[str, list[HistoryRow]]] = []
        self.found: list[tuple[int, list[HistoryRow], bool]] = []
        service.history_loaded.connect(self.loaded.append)
        service.counts_changed.connect(lambda total, unread: self.counts.append((total, unread)))
        service.older_loaded.connect(lambda before, rows: self.older.append((before, rows)))
        service.search_finished.connect(lambda rid, rows, more: self.found.append((rid, rows, more)))


@pytest.fixture
def service(qapp: Any, big_history: Path, tmp_path: Path) -> Iterator[tuple[ClientService, Recorder]]:
    data = copy_data_dir(big_history, tmp_path / "data")
    svc = ClientService(Settings(), data_dir=data, token_loader=lambda _url: None)
    recorder = Recorder(svc)
    svc.start()
    yield svc, recorder
    svc.stop()


def test_service_loads_a_window_and_counts_the_whole_history(service: tuple[ClientService, Recorder],
                                                             qtbot: Any) -> None:
    svc, rec = service
    qtbot.waitUntil(lambda: bool(rec.loaded and rec.counts), timeout=20_000)
    assert ids(rec.loaded[0]) == [f"h-{i}" for i in range(BIG - 1, BIG - 1 - HISTORY_WINDOW, -1)]
    assert rec.counts[-1] == (BIG, unread_in(BIG))

    oldest = rec.loaded[0][-1].event.id
    svc.load_older(oldest, 500)
    qtbot.waitUntil(lambda: bool(rec.older), timeout=10_000)
    before, rows = rec.older[0]
    assert before == oldest
    first = BIG - 1 - HISTORY_WINDOW
    assert ids(rows) == [f"h-{i}" for i in range(first, first - 500, -1)]

    svc.search(7, RowFilter(needle="question 1234"), 1000)
    qtbot.waitUntil(lambda: bool(rec.found), timeout=10_000)
    request, found, more = rec.found[0]
    assert request == 7 and not more
    assert ids(found) == [*(f"h-{i}" for i in range(12349, 12339, -1)), "h-1234"]  # far outside the window

    svc.mark_read(["h-0", "h-7", "h-1"])  # two were unread, one already read
    qtbot.waitUntil(lambda: rec.counts[-1] == (BIG, unread_in(BIG) - 2), timeout=10_000)
    svc.mark_unread(["h-1"])
    qtbot.waitUntil(lambda: rec.counts[-1] == (BIG, unread_in(BIG) - 1), timeout=10_000)
    svc.mark_all_read()
    qtbot.waitUntil(lambda: rec.counts[-1] == (BIG, 0), timeout=10_000)


def test_a_newer_search_supersedes_a_running_one(service: tuple[ClientService, Recorder], qtbot: Any) -> None:
    svc, rec = service
    qtbot.waitUntil(lambda: bool(rec.counts), timeout=20_000)
    svc.search(1, RowFilter(needle="nothing like this"), 1000)
    svc.search(2, RowFilter(keys=frozenset({"chat.status/queue"})), 100)
    qtbot.waitUntil(lambda: any(rid == 2 for rid, _, _ in rec.found), timeout=10_000)
    rid, rows, more = rec.found[-1]
    assert rid == 2
    assert len(rows) == 100 and more
    assert all(row.event.event.status == "queue" for row in rows)
