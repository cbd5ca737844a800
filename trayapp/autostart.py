"""Start the tray app at login, per OS. No Qt here.

- Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/trayapp.desktop`` (``~/.config`` when the
  variable is unset, empty or relative, as the XDG Base Directory spec says).
- Windows: the value ``trayapp`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` (the same
  value the Inno Setup installer's "start at login" task writes, so the settings checkbox and the installer
  agree). A user who turned the entry off in Task Manager's Startup tab has it marked disabled under
  ``...\\Explorer\\StartupApproved\\Run``: :func:`is_enabled` honours that and :func:`set_enabled` clears it.
- macOS: the LaunchAgent ``~/Library/LaunchAgents/io.acquire.trayapp.plist`` (``RunAtLoad``), read by
  launchd at the next login.

The OS is the single source of truth: the settings dialog shows :func:`is_enabled` and calls
:func:`set_enabled`; every failure is an :class:`AutostartError` whose message says what and where.

The content builders (:func:`desktop_entry`, :func:`desktop_exec`, :func:`windows_run_value`,
:func:`launch_agent_plist`, :func:`startup_approved`) are pure functions, testable on any OS.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from xml.parsers.expat import ExpatError

APP_NAME = "trayapp"
APP_ID = "io.acquire.trayapp"
DESKTOP_FILE_NAME = "trayapp.desktop"
LAUNCH_AGENT_LABEL = APP_ID
WINDOWS_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
WINDOWS_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
WINDOWS_VALUE_NAME = APP_NAME


class AutostartError(Exception):
    """Start at login could not be read or changed; the message says what and where."""


# --------------------------------------------------------------------------------------------- command


def default_command() -> list[str]:
    """The command that starts this app: the frozen executable in a bundle, else the ``trayapp`` script.

    Raises :class:`AutostartError` when no ``trayapp`` command can be found (pass ``command=`` then).
    """
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    exe_dir = Path(sys.executable).parent  # a virtualenv's bin/ (or Scripts\ on Windows)
    for name in ("trayapp", "trayapp.exe"):
        candidate = exe_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which(APP_NAME)
    if found:
        return [str(Path(found).resolve())]
    raise AutostartError(
        f"cannot find the {APP_NAME!r} command next to {sys.executable} or on PATH; "
        "install the app (pip install 'trayapp[app]' or an installer) or pass the command explicitly"
    )


def _check_command(command: Sequence[str]) -> list[str]:
    args = [str(a) for a in command]
    if not args or not args[0]:
        raise AutostartError("the start-at-login command is empty")
    for arg in args:
        if any(c in arg for c in "\n\r\0"):
            raise AutostartError(f"the start-at-login command has a line break or NUL in {arg!r}")
    return args


# ------------------------------------------------------------------------------------ pure builders

# Desktop Entry spec, "The Exec key": these characters force an argument into double quotes.
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _exec_arg(arg: str) -> str:
    """One argument of an ``Exec=`` line, quoted and escaped as the Desktop Entry spec asks."""
    arg = arg.replace("%", "%%")  # a literal percent sign (field codes are %u, %f, ...)
    if arg and not (set(arg) & _EXEC_RESERVED):
        return arg
    # Inside double quotes: backslash-escape ", `, $ and \ ...
    quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    # ... then the value itself is a "string" whose backslashes are escaped once more.
    return quoted.replace("\\", "\\\\")


def desktop_exec(command: Sequence[str]) -> str:
    """The ``Exec=`` value that runs ``command`` (a list of arguments, not a shell line)."""
    return " ".join(_exec_arg(a) for a in _check_command(command))


def desktop_entry(command: Sequence[str]) -> str:
    """The XDG autostart entry (``trayapp.desktop``) that runs ``command`` at login."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={APP_NAME}\n"
        "Comment=Acquire case alerts on your desktop\n"
        f"Exec={desktop_exec(command)}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "Categories=Network;\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=3\n"
        "X-KDE-autostart-after=panel\n"
    )


def entry_enabled(text: str) -> bool:
    """Whether an autostart entry's text leaves it on (``Hidden=true`` or
    ``X-GNOME-Autostart-enabled=false`` in ``[Desktop Entry]`` turn it off)."""
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        if group != "Desktop Entry" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip().lower()
        if key == "Hidden" and value == "true":
            return False
        if key == "X-GNOME-Autostart-enabled" and value == "false":
            return False
    return True


def windows_run_value(command: Sequence[str]) -> str:
    """The ``Run`` key's string: the command line with Windows (MS C runtime) quoting."""
    return subprocess.list2cmdline(_check_command(command))


def startup_approved(data: bytes | None) -> bool:
    """Whether a ``StartupApproved\\Run`` value leaves the entry on: absent, or an even first byte
    (``02 00 ...``); Task Manager writes an odd one (``03 00 ...`` plus when) when the user disables it."""
    if not data:
        return True
    return data[0] % 2 == 0


def launch_agent_plist(command: Sequence[str], label: str = LAUNCH_AGENT_LABEL) -> bytes:
    """The LaunchAgent property list (XML) that runs ``command`` once at login, in the GUI session."""
    agent: dict[str, Any] = {
        "Label": label,
        "ProgramArguments": _check_command(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=True)


def agent_enabled(data: bytes) -> bool:
    """Whether a LaunchAgent plist runs at load and is not ``Disabled``."""
    try:
        agent = plistlib.loads(data)
    except (ValueError, TypeError, ExpatError) as exc:  # InvalidFileException is a ValueError
        raise AutostartError(f"the LaunchAgent is not a valid property list: {exc}") from exc
    if not isinstance(agent, dict):
        raise AutostartError("the LaunchAgent property list is not a dictionary")
    return bool(agent.get("RunAtLoad")) and not bool(agent.get("Disabled"))


# ------------------------------------------------------------------------------------------ places


def xdg_config_home(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME`` if it is set to an absolute path, else ``~/.config``."""
    env = os.environ if env is None else env
    value = env.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".config"


def desktop_file_path() -> Path:
    return xdg_config_home() / "autostart" / DESKTOP_FILE_NAME


def launch_agent_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


# ---------------------------------------------------------------------------------------- back-ends


class _Backend(Protocol):
    def is_enabled(self) -> bool: ...
    def enable(self, command: list[str]) -> None: ...
    def disable(self) -> None: ...


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise AutostartError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise AutostartError(f"cannot remove {path}: {exc.strerror or exc}") from exc


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AutostartError(f"cannot read {path}: {exc.strerror or exc}") from exc


class XdgBackend:
    """``$XDG_CONFIG_HOME/autostart/trayapp.desktop``; the path is looked up on every call."""

    def is_enabled(self) -> bool:
        data = _read(desktop_file_path())
        return data is not None and entry_enabled(data.decode("utf-8", "replace"))

    def enable(self, command: list[str]) -> None:
        _write_atomically(desktop_file_path(), desktop_entry(command).encode("utf-8"))

    def disable(self) -> None:
        _remove(desktop_file_path())


class MacBackend:
    """``~/Library/LaunchAgents/io.acquire.trayapp.plist``, read by launchd at the next login."""

    def is_enabled(self) -> bool:
        data = _read(launch_agent_path())
        return data is not None and agent_enabled(data)

    def enable(self, command: list[str]) -> None:
        _write_atomically(launch_agent_path(), launch_agent_plist(command))

    def disable(self) -> None:
        _remove(launch_agent_path())


class WindowsBackend:
    """The ``trayapp`` value of ``HKCU\\...\\Run``. ``winreg`` is passed in (tests give a fake one)."""

    def __init__(self, winreg: Any) -> None:
        self.reg = winreg

    def _query(self, key_path: str) -> Any:
        try:
            with self.reg.OpenKey(self.reg.HKEY_CURRENT_USER, key_path) as key:
                value, _kind = self.reg.QueryValueEx(key, WINDOWS_VALUE_NAME)
                return value
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AutostartError(f"cannot read HKCU\\{key_path}\\{WINDOWS_VALUE_NAME}: {exc}") from exc

    def is_enabled(self) -> bool:
        if not self._query(WINDOWS_RUN_KEY):
            return False
        approved = self._query(WINDOWS_APPROVED_KEY)
        return startup_approved(bytes(approved) if isinstance(approved, bytes | bytearray) else None)

    def enable(self, command: list[str]) -> None:
        value = windows_run_value(command)
        try:
            with self.reg.CreateKeyEx(self.reg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY, 0, self.reg.KEY_SET_VALUE) as key:
                self.reg.SetValueEx(key, WINDOWS_VALUE_NAME, 0, self.reg.REG_SZ, value)
        except OSError as exc:
            raise AutostartError(f"cannot write HKCU\\{WINDOWS_RUN_KEY}\\{WINDOWS_VALUE_NAME}: {exc}") from exc
        self._delete(WINDOWS_APPROVED_KEY)  # undo a "Disabled" from Task Manager

    def disable(self) -> None:
        self._delete(WINDOWS_RUN_KEY)
        self._delete(WINDOWS_APPROVED_KEY)

    def _delete(self, key_path: str) -> None:
        try:
            with self.reg.OpenKey(self.reg.HKEY_CURRENT_USER, key_path, 0, self.reg.KEY_SET_VALUE) as key:
                self.reg.DeleteValue(key, WINDOWS_VALUE_NAME)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AutostartError(f"cannot remove HKCU\\{key_path}\\{WINDOWS_VALUE_NAME}: {exc}") from exc


def backend(platform: str | None = None) -> _Backend:
    """The back-end for ``platform`` (default: ``sys.platform``)."""
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        import winreg  # only on Windows

        return WindowsBackend(winreg)
    if platform == "darwin":
        return MacBackend()
    return XdgBackend()


# ----------------------------------------------------------------------------------------------- API


def is_enabled() -> bool:
    """Whether the app is set to start at login for this user."""
    return backend().is_enabled()


def set_enabled(on: bool, command: list[str] | None = None) -> None:
    """Turn start at login on (running ``command``, default :func:`default_command`) or off.

    Turning it on again rewrites the entry, so a moved or upgraded app gets the current path.
    Raises :class:`AutostartError` on failure.
    """
    chosen = backend()
    if on:
        chosen.enable(_check_command(command if command is not None else default_command()))
    else:
        chosen.disable()
