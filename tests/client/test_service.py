"""ClientService (the Qt face) against a real bridge, under pytest-qt (offscreen): signals arrive queued in the
GUI thread, methods return at once, history survives a restart, errors become states."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QCoreApplication, QThread

from tests.support.bridges import BridgeProcess, case_payload, signed
from trayapp.client.errors import EventNotStored, NoKeyring
from trayapp.client.history import FILE_NAME, History
from trayapp.client.session import woke_from_sleep
from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem
from trayapp.model.rows import HistoryRow
from trayapp.settings import Settings
from trayapp.ui.client_service import ClientService

from .test_bridge_integration import token_link

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]  # real bridge processes


class Signals:
    """Records every signal of a service, and that it ran in the GUI thread."""

    def __init__(self, service: ClientService) -> None:
        self.states: list[ConnectionStatus] = []
        self.loaded: list[list[HistoryRow]] = []
        self.events: list[tuple[HistoryRow, bool]] = []
        self.caught_up: list[int] = []
        self.gaps: list[Any] = []
        self.failures: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.read: list[tuple[list[str], bool]] = []
        self.wrong_thread = 0
        gui = QCoreApplication.instance()
        assert gui is not None
        self._gui = gui.thread()

        def rec(target: list[Any], pack: Callable[..., Any]) -> Callable[..., None]:
            def slot(*args: Any) -> None:
                if QThread.currentThread() is not self._gui:
                    self.wrong_thread += 1
                target.append(pack(*args))

            return slot

        service.state_changed.connect(rec(self.states, lambda s: s))
        service.history_loaded.connect(rec(self.loaded, lambda rows: rows))
        service.event_received.connect(rec(self.events, lambda row, replay: (row, replay)))
        service.caught_up.connect(rec(self.caught_up, lambda n: n))
        service.gap.connect(rec(self.gaps, lambda g: g))
        service.verification_failed.connect(rec(self.failures, lambda r: r))
        service.event_skipped.connect(rec(self.skipped, lambda event_id, reason: (event_id, reason)))
        service.read_changed.connect(rec(self.read, lambda ids, read: (ids, read)))

    @property
    def state(self) -> ConnectionState | None:
        return self.states[-1].state if self.states else None


@pytest.fixture
def services(qapp: Any) -> Iterator[list[ClientService]]:
    made: list[ClientService] = []
    yield made
    for service in made:
        service.stop()


def post(url: str, *payloads: dict[str, Any]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for payload in payloads:
            body, headers = signed(payload)
            assert client.post("/webhooks/acquire", content=body, headers=headers).status_code in (200, 202)


def make(services: list[ClientService], settings: Settings, data_dir: Path, token: str | None) -> tuple[
        ClientService, Signals]:
    service = ClientService(settings, data_dir=data_dir, token_loader=lambda _url: token)
    signals = Signals(service)
    services.append(service)
    return service, signals


def test_events_flow_read_state_and_restart(qtbot: Any, bridge: BridgeProcess, tmp_path: Path,
                                            services: list[ClientService]) -> None:
    token, key, _ = token_link(bridge)
    settings = Settings(bridge_url=bridge.url, key=key)
    service, sig = make(services, settings, tmp_path / "app", token)
    started = time.monotonic()
    service.start()
    assert time.monotonic() - started < 0.5  # start() only posts work
    qtbot.waitUntil(lambda: sig.caught_up == [0] and sig.state is ConnectionState.CONNECTED, timeout=10000)
    assert sig.loaded == [[]]
    post(bridge.url, case_payload(1), case_payload(2))
    qtbot.waitUntil(lambda: len(sig.events) == 2, timeout=10000)
    assert [(row.event.seq, row.read, replay) for row, replay in sig.events] == [(1, False, False), (2, False, False)]
    first, second = (row.event.id for row, _ in sig.events)
    service.mark_read([first])
    qtbot.waitUntil(lambda: sig.read == [([first], True)], timeout=5000)
    service.mark_all_read()
    qtbot.waitUntil(lambda: len(sig.read) == 2, timeout=5000)
    assert sig.read[1] == ([second], True)
    assert sig.wrong_thread == 0
    stopping = time.monotonic()
    service.stop()
    assert time.monotonic() - stopping < 2.5

    # Events while the app is closed; the restarted app shows the stored list and replays the backlog.
    post(bridge.url, case_payload(3))
    service2, sig2 = make(services, settings, tmp_path / "app", token)
    service2.start()
    qtbot.waitUntil(lambda: sig2.caught_up == [1], timeout=10000)
    assert [(row.event.seq, row.read) for row in sig2.loaded[0]] == [(2, True), (1, True)]
    assert [(row.event.seq, replay) for row, replay in sig2.events] == [(3, True)]
    assert sig2.wrong_thread == 0


def test_not_configured_then_apply_settings_connects(qtbot: Any, bridge: BridgeProcess, tmp_path: Path,
                                                      services: list[ClientService]) -> None:
    token, key, _ = token_link(bridge)
    service, sig = make(services, Settings(), tmp_path / "app", token)
    service.start()
    qtbot.waitUntil(lambda: sig.state is ConnectionState.NOT_CONFIGURED, timeout=5000)
    assert "connection link" in sig.states[-1].detail
    service.apply_settings(Settings(bridge_url=bridge.url, key=key))
    qtbot.waitUntil(lambda: sig.state is ConnectionState.CONNECTED and bool(sig.caught_up), timeout=10000)
    service.reconnect_now()
    qtbot.waitUntil(lambda: len(sig.caught_up) == 2, timeout=10000)
    assert sig.state is ConnectionState.CONNECTED
    # The network came back (QNetworkInformation): reconnect at once.
    from PySide6.QtNetwork import QNetworkInformation

    service._on_reachability(QNetworkInformation.Reachability.Online)
    qtbot.waitUntil(lambda: len(sig.caught_up) == 3, timeout=10000)
    service._on_reachability(QNetworkInformation.Reachability.Disconnected)  # nothing to do: pings will tell


def test_no_keyring_is_an_error_state(qtbot: Any, tmp_path: Path, services: list[ClientService]) -> None:
    def no_keyring(_url: str) -> str | None:
        raise NoKeyring("no secure keyring is available")

    service = ClientService(Settings(bridge_url="http://127.0.0.1:9", key="ed25519:" + "A" * 43 + "="),
                            data_dir=tmp_path / "app", token_loader=no_keyring)
    services.append(service)
    sig = Signals(service)
    service.start()
    qtbot.waitUntil(lambda: sig.state is ConnectionState.ERROR, timeout=5000)
    assert "keyring" in sig.states[-1].detail


def test_wrong_key_is_an_error_state_and_a_stale_cursor_a_gap(qtbot: Any, bridge_factory: Callable[..., BridgeProcess],
                                                             tmp_path: Path, services: list[ClientService]) -> None:
    bp = bridge_factory()
    other = bridge_factory()
    token, key, _ = token_link(bp)
    _, wrong_key, _ = token_link(other)
    post(bp.url, case_payload(1))
    with History(tmp_path / "app" / FILE_NAME) as h:
        h.skip_to("some-other-bridge", 3)
    service, sig = make(services, Settings(bridge_url=bp.url, key=wrong_key), tmp_path / "app", token)
    service.start()
    qtbot.waitUntil(lambda: sig.state is ConnectionState.ERROR, timeout=10000)
    assert sig.states[-1].problem is Problem.KEY_MISMATCH
    assert ConnectionState.CONNECTED not in [s.state for s in sig.states]
    assert sig.events == [] and sig.caught_up == [] and sig.gaps == []
    service.stop()
    service, sig = make(services, Settings(bridge_url=bp.url, key=key), tmp_path / "app", token)
    service.start()
    qtbot.waitUntil(lambda: bool(sig.caught_up), timeout=10000)
    assert [(g.first, g.last, g.reason) for g in sig.gaps] == [(None, None, "epoch")]
    assert [row.event.seq for row, _ in sig.events] == [1] and sig.caught_up == [1]
    assert service.verification_failures == 0 and sig.wrong_thread == 0


def test_an_event_that_cannot_be_stored_is_skipped_with_a_signal(qtbot: Any, bridge: BridgeProcess, tmp_path: Path,
                                                                  services: list[ClientService],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    token, key, _ = token_link(bridge)
    real_add = History.add

    def picky(self: History, received: Any, epoch: str) -> HistoryRow | None:
        if received.seq == 1:
            raise EventNotStored(f"cannot store event {received.id!r}: ValueError: test")
        return real_add(self, received, epoch)

    monkeypatch.setattr(History, "add", picky)
    service, sig = make(services, Settings(bridge_url=bridge.url, key=key), tmp_path / "app", token)
    service.start()
    qtbot.waitUntil(lambda: bool(sig.caught_up), timeout=10000)
    post(bridge.url, case_payload(1), case_payload(2))
    qtbot.waitUntil(lambda: bool(sig.events and sig.skipped), timeout=10000)
    assert [row.event.seq for row, _ in sig.events] == [2]
    assert sig.skipped[0][0].endswith("-1") and "ValueError: test" in sig.skipped[0][1]
    assert service.skipped_events == 1 and sig.state is ConnectionState.CONNECTED and sig.wrong_thread == 0


def test_wake_detection() -> None:
    assert not woke_from_sleep(1000.0, 50.0, 1030.0, 80.0)  # 30 s on both clocks
    assert not woke_from_sleep(1000.0, 50.0, 1032.0, 80.0)  # a little NTP drift
    assert woke_from_sleep(1000.0, 50.0, 4600.0, 80.0)  # an hour of sleep


def test_stop_before_start_and_twice(qapp: Any, tmp_path: Path) -> None:
    service = ClientService(Settings(), data_dir=tmp_path / "app", token_loader=lambda _u: None)
    service.stop()
    service.start()
    service.stop()
    service.stop()
    service.mark_read(["x"])  # after stop: ignored, no error


def test_send_me_a_test_alert(qtbot: Any, bridge: BridgeProcess, tmp_path: Path,
                              services: list[ClientService]) -> None:
    token, key, _ = token_link(bridge)
    service, sig = make(services, Settings(bridge_url=bridge.url, key=key), tmp_path / "app", token)
    sent: list[tuple[bool, str, str]] = []
    arrived: list[Any] = []
    service.test_alert_sent.connect(lambda ok, words, detail: sent.append((ok, words, detail)))
    service.test_alert.connect(arrived.append)
    service.start()
    qtbot.waitUntil(lambda: sig.state is ConnectionState.CONNECTED and bool(sig.caught_up), timeout=10000)
    service.send_test_alert()
    qtbot.waitUntil(lambda: bool(sent) and bool(arrived), timeout=10000)
    assert sent[0][0] and "sent a test alert" in sent[0][1] and "1 open connection" in sent[0][2]
    assert arrived[0].seq == 0 and arrived[0].id.startswith("test-")
    assert sig.events == []  # not an event: nothing stored, the cursor does not move
    with History(tmp_path / "app" / FILE_NAME) as history:
        assert history.count() == 0
    bridge.cli("token", "revoke", "agent")
    qtbot.waitUntil(lambda: sig.state is ConnectionState.ERROR, timeout=10000)
    service.send_test_alert()
    qtbot.waitUntil(lambda: len(sent) == 2, timeout=10000)
    assert not sent[1][0] and sent[1][1] == "Your access was turned off — ask your admin for a new link."
