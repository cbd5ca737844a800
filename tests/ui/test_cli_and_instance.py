from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from tests.ui.launches import second_launch
from trayapp.cli import _normalise
from trayapp.ui.notify import LIST_TARGET, Notification
from trayapp.ui.notify.tray import TrayMessageNotifier
from trayapp.ui.single_instance import SingleInstance, send_to_running


def test_version_and_listen_do_not_import_qt() -> None:
    code = ("import sys\nfrom trayapp.cli import build_parser, main\n"
            "build_parser().parse_args(['listen', '--link', 'x'])\n"
            "try:\n    main(['--version'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("trayapp ")


def test_a_bare_link_means_connect() -> None:
    assert _normalise(["trayapp://connect?url=x"]) == ["connect", "trayapp://connect?url=x"]
    assert _normalise(["--debug", "demo"]) == ["--debug", "demo"]
    assert _normalise(["listen", "--link", "trayapp://connect?url=x"]) == ["listen", "--link", "trayapp://connect?url=x"]


def test_second_launch_hands_over_its_arguments(qtbot, tmp_path: Path) -> None:
    name = str(tmp_path / f"trayapp-test-{uuid.uuid4().hex[:8]}.sock")
    first = SingleInstance(name)
    assert first.listen()
    received: list[list[str]] = []
    first.arguments_received.connect(received.append)

    assert second_launch(qtbot, name, ["connect", "trayapp://connect?x"]) == 0  # a second launch: another process
    assert received == [["connect", "trayapp://connect?x"]]
    first.close()
    assert not send_to_running(["x"], name)


def test_tray_message_fallback_opens_the_list(qtbot) -> None:
    notifier = TrayMessageNotifier(None)
    notifier.show(Notification(key="k", title="New case #1", body="", target="evt-1"))
    assert notifier.last is not None and notifier.last.title == "New case #1"
    assert not notifier.supports_actions
    with qtbot.waitSignal(notifier.activated) as activated:
        notifier._on_clicked()
    assert activated.args == [LIST_TARGET]


def test_demo_simulator_starts_once_the_app_is_connected(qtbot) -> None:
    """A fresh install starts live, so the demo's first webhook must wait for the connection (once)."""
    from tests.ui.fakes import FakeClient
    from trayapp.demo.app import simulate_once_connected
    from trayapp.model.connection import ConnectionState, ConnectionStatus

    class Bridge:
        def __init__(self) -> None:
            self.started: list[float] = []

        def start_simulator(self, interval: float) -> None:
            self.started.append(interval)

    client, bridge = FakeClient(), Bridge()
    simulate_once_connected(client, bridge, 6.0)  # type: ignore[arg-type]
    client.state_changed.emit(ConnectionStatus(ConnectionState.CONNECTING))
    assert bridge.started == []
    client.state_changed.emit(ConnectionStatus(ConnectionState.CONNECTED, detail="catching up"))
    client.state_changed.emit(ConnectionStatus(ConnectionState.CONNECTED))
    assert bridge.started == [6.0]
