from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester

from tests.support.rows import make_row
from trayapp.ui.list_model import BATCH, EVENT_ID_ROLE, Column, HistoryFilterProxy, HistoryModel


def loaded(n: int, read_every: int = 0) -> HistoryModel:
    model = HistoryModel()
    # history_loaded delivers newest first
    model.set_rows([make_row(i, read=bool(read_every) and i % read_every == 0) for i in range(n, 0, -1)])
    return model


def test_newest_first_and_columns() -> None:
    model = loaded(3)
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    assert model.rowCount() == 3
    assert model.index(0, Column.CASE).data() == "#5003"
    assert model.index(2, Column.CASE).data() == "#5001"
    assert model.index(0, Column.KIND).data() == "New case"
    assert model.index(0, Column.CONTACT).data() == "Contact 3"
    assert model.index(0, Column.TITLE).data() == "Question 3"
    assert model.headerData(Column.TIME, Qt.Orientation.Horizontal) == "Time"


def test_unread_is_bold_and_counted() -> None:
    model = loaded(4, read_every=2)
    assert model.unread_count == 2
    bold = model.index(0, 0).data(Qt.ItemDataRole.FontRole)  # seq 4: read
    assert bold is None
    assert model.index(1, 0).data(Qt.ItemDataRole.FontRole).bold()  # seq 3: unread


def test_live_insert_at_top_without_reset(qtbot) -> None:
    model = loaded(2)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.rowsInserted) as blocker:
        assert model.add_row(make_row(3))
    assert blocker.args[1:] == [0, 0]
    assert model.index(0, Column.CASE).data() == "#5003"
    assert not resets
    assert model.unread_count == 3
    assert not model.add_row(make_row(3)), "duplicates are ignored"
    assert model.rowCount() == 3


def test_read_changes_emit_data_changed(qtbot) -> None:
    model = loaded(3)
    with qtbot.waitSignal(model.dataChanged), qtbot.waitSignal(model.unread_changed) as unread:
        model.set_read(["evt-2"], True)
    assert unread.args == [2]
    assert model.index(1, 0).data(Qt.ItemDataRole.FontRole) is None
    model.set_all_read()
    assert model.unread_count == 0
    model.set_read(["evt-1"], False)
    assert model.unread_count == 1


def test_lazy_exposure_of_100k_rows_is_fast() -> None:
    rows = [make_row(i) for i in range(100_000, 0, -1)]
    model = HistoryModel()
    started = time.perf_counter()
    model.set_rows(rows)
    elapsed = time.perf_counter() - started
    assert model.rowCount() == BATCH
    assert model.total == 100_000
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 2 * BATCH
    assert model.index(2 * BATCH - 1, 0).data(EVENT_ID_ROLE) == f"evt-{100_000 - 2 * BATCH + 1}"
    assert elapsed < 2.0  # generous: it is ~0.1 s here; 100k rows must not take seconds
    assert model.row_of("evt-1") is None  # not exposed yet
    assert model.find("evt-1") is not None


def test_proxy_filters_by_key_text_and_unread() -> None:
    model = HistoryModel()
    model.set_rows([
        make_row(4, kind="chat.status", status="queue", contact_name="John Deo"),
        make_row(3, kind="chat.status", status="active", read=True),
        make_row(2, kind="case.new", title="Refund please"),
        make_row(1, kind="chat.message", status=None, text="hi"),
    ])
    proxy = HistoryFilterProxy()
    proxy.setSourceModel(model)
    QAbstractItemModelTester(proxy, QAbstractItemModelTester.FailureReportingMode.Fatal)
    assert proxy.rowCount() == 4
    proxy.set_keys({"chat.status/queue", "case.new"})
    assert [proxy.index(r, 0).data(EVENT_ID_ROLE) for r in range(proxy.rowCount())] == ["evt-4", "evt-2"]
    proxy.set_keys(None)
    proxy.set_text("refund")
    assert proxy.rowCount() == 1
    proxy.set_text("JOHN")
    assert proxy.index(0, 0).data(EVENT_ID_ROLE) == "evt-4"
    proxy.set_text("#5003".lstrip("#"))
    assert proxy.index(0, 0).data(EVENT_ID_ROLE) == "evt-3"
    proxy.set_text("")
    proxy.set_unread_only(True)
    assert proxy.rowCount() == 3


def test_proxy_sees_live_rows(qtbot) -> None:
    model = loaded(2)
    proxy = HistoryFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_keys({"chat.status/active"})
    assert proxy.rowCount() == 0
    model.add_row(make_row(3, kind="chat.status", status="active"))
    assert proxy.rowCount() == 1
