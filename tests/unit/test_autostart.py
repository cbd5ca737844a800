"""Start at login: real files on Linux (XDG autostart, and the macOS LaunchAgent file under a tmp HOME),
table tests for the content builders, and the Windows back-end against an in-memory registry."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import skip_or_fail
from trayapp import autostart
from trayapp.autostart import AutostartError

CMD = ["/opt/trayapp/trayapp"]


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setattr(sys, "platform", "linux")
    return config / "autostart" / "trayapp.desktop"


def validate_desktop_file(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        skip_or_fail("desktop-file-validate is not installed (apt-get install desktop-file-utils)")
    assert tool is not None
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout  # no warnings or hints either


# ------------------------------------------------------------------------------------- Linux, real


def test_linux_enable_writes_a_valid_entry_and_disable_removes_it(xdg: Path) -> None:
    assert not xdg.exists()
    assert autostart.is_enabled() is False

    autostart.set_enabled(True, CMD)
    assert xdg.is_file()
    assert autostart.is_enabled() is True
    text = xdg.read_text(encoding="utf-8")
    assert "Exec=/opt/trayapp/trayapp\n" in text
    assert "Type=Application\n" in text
    validate_desktop_file(xdg)
    assert not list(xdg.parent.glob(".*.tmp"))  # the atomic write left nothing behind

    autostart.set_enabled(False)
    assert not xdg.exists()
    assert autostart.is_enabled() is False
    autostart.set_enabled(False)  # turning it off twice is fine


def test_linux_enable_again_rewrites_a_stale_entry(xdg: Path) -> None:
    autostart.set_enabled(True, ["/old/place/trayapp"])
    autostart.set_enabled(True, ["/new place/trayapp", "--debug"])
    assert 'Exec="/new place/trayapp" --debug\n' in xdg.read_text(encoding="utf-8")
    validate_desktop_file(xdg)


def test_linux_entry_with_awkward_arguments_is_valid(xdg: Path) -> None:
    autostart.set_enabled(True, ["/home/a b/bin/tray$app", "--name=100%", 'say "hi"', "back\\slash"])
    validate_desktop_file(xdg)


@pytest.mark.parametrize(
    ("extra", "enabled"),
    [
        ("", True),
        ("Hidden=true\n", False),
        ("Hidden=false\n", True),
        ("X-GNOME-Autostart-enabled=false\n", False),
        ("X-GNOME-Autostart-enabled=true\n", True),
        ("[Desktop Action x]\nHidden=true\n", True),  # another group does not count
    ],
)
def test_linux_entry_turned_off_by_the_desktop_counts_as_disabled(xdg: Path, extra: str, enabled: bool) -> None:
    xdg.parent.mkdir(parents=True)
    xdg.write_text("[Desktop Entry]\nType=Application\nName=trayapp\nExec=trayapp\n" + extra, encoding="utf-8")
    assert autostart.is_enabled() is enabled


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_xdg_config_home_unset_or_relative_means_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", value)
    monkeypatch.setattr(sys, "platform", "linux")
    autostart.set_enabled(True, CMD)
    assert (tmp_path / ".config" / "autostart" / "trayapp.desktop").is_file()


def test_linux_failure_raises_autostart_error_naming_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the config folder should be", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(AutostartError, match=r"cannot write .*not-a-dir/autostart/trayapp\.desktop"):
        autostart.set_enabled(True, CMD)


def test_enable_uses_the_default_command(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autostart, "default_command", lambda: ["/usr/bin/trayapp"])
    autostart.set_enabled(True)
    assert "Exec=/usr/bin/trayapp\n" in xdg.read_text(encoding="utf-8")


# -------------------------------------------------------------------------------------- the command


def test_default_command_in_a_bundle_is_the_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = tmp_path / "trayapp"
    exe.write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert autostart.default_command() == [str(exe.resolve())]


def test_default_command_prefers_the_script_next_to_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "trayapp"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert autostart.default_command() == [str(script)]


def test_default_command_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AutostartError, match="cannot find the 'trayapp' command"):
        autostart.default_command()


@pytest.mark.parametrize("command", [[], [""], ["trayapp", "a\nb"], ["trayapp\0"]])
def test_bad_commands_are_refused(xdg: Path, command: list[str]) -> None:
    with pytest.raises(AutostartError):
        autostart.set_enabled(True, command)
    assert not xdg.exists()


# --------------------------------------------------------------------------------- pure: Exec= line


def unquote_exec(value: str) -> list[str]:
    """A reference reading of an Exec= value (Desktop Entry spec): undo the string escaping, then split
    on spaces outside double quotes; inside them a backslash escapes one of " ` $ \\."""
    assert "%" not in value.replace("%%", "")
    text = value.replace("\\\\", "\\").replace("%%", "%")
    args: list[str] = []
    current: list[str] | None = None
    i, quoted = 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                i += 1
                c = text[i]
            elif c == '"':
                quoted = False
                i += 1
                continue
            assert current is not None
            current.append(c)
        elif c == " ":
            if current is not None:
                args.append("".join(current))
                current = None
        elif c == '"':
            quoted = True
            current = current if current is not None else []
        else:
            assert c not in "\\$`", f"reserved {c!r} outside quotes"
            current = (current or []) + [c]
        i += 1
    assert not quoted
    if current is not None:
        args.append("".join(current))
    return args


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/usr/bin/trayapp"], "/usr/bin/trayapp"),
        (["trayapp", "--debug"], "trayapp --debug"),
        (["/opt/my app/trayapp"], '"/opt/my app/trayapp"'),
        (["trayapp", "--x=100%"], "trayapp --x=100%%"),
        (["tray$app"], '"tray\\\\$app"'),
        (['say "hi"'], '"say \\\\"hi\\\\""'),
        (["back\\slash"], '"back\\\\\\\\slash"'),
        (["it's"], '"it\'s"'),
        (["a`b"], '"a\\\\`b"'),
        (["~/bin/trayapp"], '"~/bin/trayapp"'),
    ],
)
def test_desktop_exec_quoting(command: list[str], expected: str) -> None:
    assert autostart.desktop_exec(command) == expected
    assert unquote_exec(expected) == command


def test_desktop_entry_fields() -> None:
    text = autostart.desktop_entry(["trayapp"])
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert "Exec=trayapp" in lines
    assert "X-GNOME-Autostart-enabled=true" in lines
    assert "Icon=io.acquire.trayapp" in lines
    assert autostart.entry_enabled(text)


# ------------------------------------------------------------------------------------ pure: Windows


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([r"C:\Program Files\trayapp\trayapp.exe"], r'"C:\Program Files\trayapp\trayapp.exe"'),
        ([r"C:\trayapp\trayapp.exe"], r"C:\trayapp\trayapp.exe"),
        ([r"C:\trayapp\trayapp.exe", "--debug"], r"C:\trayapp\trayapp.exe --debug"),
        ([r"C:\a b\trayapp.exe", 'say "hi"'], r'"C:\a b\trayapp.exe" "say \"hi\""'),
    ],
)
def test_windows_run_value(command: list[str], expected: str) -> None:
    assert autostart.windows_run_value(command) == expected


@pytest.mark.parametrize(
    ("data", "enabled"),
    [
        (None, True),
        (b"", True),
        (bytes([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), True),
        (bytes([6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), True),
        (bytes([3, 0, 0, 0]) + b"\x12\x34\x56\x78\x9a\xbc\xde\x01", False),
        (bytes([7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), False),
    ],
)
def test_startup_approved(data: bytes | None, enabled: bool) -> None:
    assert autostart.startup_approved(data) is enabled


class FakeKey:
    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def __enter__(self) -> FakeKey:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeWinreg:
    """Just enough of ``winreg`` for the back-end: one hive, keys as dicts of values."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_SET_VALUE = 2
    REG_SZ = 1
    REG_BINARY = 3

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, object]] = {}

    def OpenKey(self, hive: str, path: str, reserved: int = 0, access: int = 0) -> FakeKey:
        if path not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return FakeKey(self.keys[path])

    def CreateKeyEx(self, hive: str, path: str, reserved: int = 0, access: int = 0) -> FakeKey:
        return FakeKey(self.keys.setdefault(path, {}))

    def QueryValueEx(self, key: FakeKey, name: str) -> tuple[object, int]:
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        value = key.values[name]
        return value, self.REG_BINARY if isinstance(value, bytes) else self.REG_SZ

    def SetValueEx(self, key: FakeKey, name: str, reserved: int, kind: int, value: object) -> None:
        assert kind == self.REG_SZ
        key.values[name] = value

    def DeleteValue(self, key: FakeKey, name: str) -> None:
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del key.values[name]


def test_windows_backend_round_trip() -> None:
    reg = FakeWinreg()
    be = autostart.WindowsBackend(reg)
    assert be.is_enabled() is False
    be.enable([r"C:\Program Files\trayapp\trayapp.exe"])
    assert reg.keys[autostart.WINDOWS_RUN_KEY] == {"trayapp": r'"C:\Program Files\trayapp\trayapp.exe"'}
    assert be.is_enabled() is True

    # The user switches it off in Task Manager: the Run value stays, StartupApproved says disabled.
    reg.keys[autostart.WINDOWS_APPROVED_KEY] = {"trayapp": bytes([3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])}
    assert be.is_enabled() is False
    be.enable([r"C:\Program Files\trayapp\trayapp.exe"])  # ticking the box again clears that
    assert reg.keys[autostart.WINDOWS_APPROVED_KEY] == {}
    assert be.is_enabled() is True

    be.disable()
    assert reg.keys[autostart.WINDOWS_RUN_KEY] == {}
    assert be.is_enabled() is False
    be.disable()  # twice is fine


def test_windows_backend_errors_are_autostart_errors() -> None:
    class Denied(FakeWinreg):
        def CreateKeyEx(self, *args: object) -> FakeKey:
            raise PermissionError(5, "Access is denied")

    with pytest.raises(AutostartError, match=r"cannot write HKCU\\Software\\Microsoft.*\\Run\\trayapp"):
        autostart.WindowsBackend(Denied()).enable(["trayapp.exe"])


# -------------------------------------------------------------------------------------- pure: macOS


@pytest.mark.parametrize(
    "command",
    [
        ["/Applications/trayapp.ui.app/Contents/MacOS/trayapp"],
        ["/Users/a b/venv/bin/trayapp", "--debug"],
        ["/x/trayapp", "<&>"],
    ],
)
def test_launch_agent_plist(command: list[str]) -> None:
    data = autostart.launch_agent_plist(command)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist')
    agent = plistlib.loads(data)
    assert agent == {
        "Label": "io.acquire.trayapp",
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    assert autostart.agent_enabled(data) is True


@pytest.mark.parametrize(
    ("agent", "enabled"),
    [
        ({"Label": "x", "RunAtLoad": True}, True),
        ({"Label": "x", "RunAtLoad": False}, False),
        ({"Label": "x"}, False),
        ({"Label": "x", "RunAtLoad": True, "Disabled": True}, False),
    ],
)
def test_agent_enabled(agent: dict[str, object], enabled: bool) -> None:
    assert autostart.agent_enabled(plistlib.dumps(agent)) is enabled


@pytest.mark.parametrize("data", [b"garbage", b"<plist><dict>", plistlib.dumps([1, 2])])
def test_agent_enabled_bad_plist(data: bytes) -> None:
    with pytest.raises(AutostartError, match="LaunchAgent"):
        autostart.agent_enabled(data)


def test_macos_backend_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "darwin")
    assert isinstance(autostart.backend(), autostart.MacBackend)
    path = tmp_path / "Library" / "LaunchAgents" / "io.acquire.trayapp.plist"
    assert autostart.is_enabled() is False
    autostart.set_enabled(True, ["/Applications/trayapp.ui.app/Contents/MacOS/trayapp"])
    assert path.is_file()
    assert autostart.is_enabled() is True
    autostart.set_enabled(False)
    assert not path.exists()
    assert autostart.is_enabled() is False


def test_backend_dispatch() -> None:
    assert isinstance(autostart.backend("linux"), autostart.XdgBackend)
    assert isinstance(autostart.backend("freebsd14"), autostart.XdgBackend)
    assert isinstance(autostart.backend("darwin"), autostart.MacBackend)
    if sys.platform != "win32":
        with pytest.raises(ModuleNotFoundError):
            autostart.backend("win32")  # winreg exists only on Windows
