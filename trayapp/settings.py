"""The one typed settings object of the desktop app, stored as JSON in the platformdirs config dir.

``Settings`` is a frozen dataclass: change it with ``dataclasses.replace(settings, field=value)`` (or
:meth:`Settings.replace`), then :func:`save` it and hand it to ``ClientService.apply_settings``. Being immutable, one
instance can be shared between the GUI and the client thread.

File: ``settings_path()`` = ``<user_config_dir("trayapp")>/settings.json`` (``$TRAYAPP_CONFIG_DIR`` overrides the
directory, for tests and portable installs). Writes are atomic (temporary file + ``os.replace``). A damaged file never
crashes the app: :func:`load` logs a warning, keeps a copy as ``settings.json.damaged`` and returns the defaults (a
field of the wrong type falls back to its default alone). :func:`load_report` also returns the problems in words
(for the UI).

The token is NOT here: it lives in the OS keyring (``trayapp.client.credentials``).

Notification kinds are strings: a kind (``"case.new"``, ``"chat.message"``, ``"agent.status"``, ``"other"``) enables
every event of that kind; ``"kind/status"`` (``"chat.status/pending"``) one status of it. See
:func:`notify_key`; the alert policy decides with them (``trayapp.model.alerts.AlertPolicy.wants``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .core.event import AGENT_STATUSES, CHAT_STATUSES, KINDS, Event
from .core.urls import DEFAULT_TEMPLATE
from .private_files import private_dir, write_private

log = logging.getLogger(__name__)

APP_NAME: Final = "trayapp"
FILE_NAME: Final = "settings.json"
VERSION: Final = 1
CONFIG_ENV: Final = "TRAYAPP_CONFIG_DIR"
DATA_ENV: Final = "TRAYAPP_DATA_DIR"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Every notify key the settings dialog can offer, in display order.
NOTIFY_CHOICES: Final[tuple[str, ...]] = (
    "case.new",
    *(f"chat.status/{s}" for s in ("pending", "queue", "active", "closed")),
    "chat.message",
    "agent.status",
    "other",
)
DEFAULT_NOTIFY: Final = frozenset(
    {"case.new", "chat.status/pending", "chat.status/queue", "chat.status/active", "chat.status/closed"}
)
_VALID_NOTIFY: Final = frozenset(
    {*KINDS}
    | {f"chat.status/{s}" for s in CHAT_STATUSES}
    | {f"case.new/{s}" for s in CHAT_STATUSES}
    | {f"agent.status/{s}" for s in AGENT_STATUSES}
)
#: Other spellings accepted when reading (the list/dialog's "chat.pending" style).
_NOTIFY_ALIASES: Final = {f"chat.{s}": f"chat.status/{s}" for s in CHAT_STATUSES}
_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a whole-number setting may be, declared once with its field (:func:`number`): the file is checked
    against it (:meth:`Settings.from_json`) and the settings dialog's spin box is built from it."""

    low: int
    high: int
    unit: str = ""  # shown after the number (" s", " days")
    description: str = ""  # what it means (the spin box's accessible name)


def number(default: int, low: int, high: int, unit: str = "", description: str = "") -> Any:
    """A whole-number field of :class:`Settings`: its default and its :class:`Bounds`."""
    return dataclasses.field(default=default, metadata={"bounds": Bounds(low, high, unit, description)})


def bounds(name: str) -> Bounds:
    """The :class:`Bounds` of a whole-number setting (``KeyError``: not one)."""
    return _BOUNDS[name]


def choice(default: str, choices: tuple[str, ...]) -> Any:
    """A text field of :class:`Settings` that is one of ``choices`` (the file is checked, the dialog offers them)."""
    return dataclasses.field(default=default, metadata={"choices": choices})


def choices(name: str) -> tuple[str, ...]:
    """The values a :func:`choice` setting may take (``KeyError``: not one)."""
    return _CHOICES[name]


def clock_time(default: str) -> Any:
    """A local time of day, ``HH:MM`` (the file is checked; the dialog edits it as a time)."""
    return dataclasses.field(default=default, metadata={"clock": True})


def notify_key(event: Event) -> str:
    """The most specific notify key of an event: ``"chat.status/pending"``, ``"case.new/pending"``, ``"other"``."""
    return f"{event.kind}/{event.status}" if event.status else event.kind


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where the history database lives (``$TRAYAPP_DATA_DIR`` overrides)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / FILE_NAME


@dataclass(frozen=True, slots=True)
class Settings:
    # --- connection (from the connection link; the token is in the keyring) ---
    bridge_url: str = ""  # http(s)://host[:port][/prefix], as in the link
    key: str = ""  # pinned "ed25519:<base64>"
    ca_file: str | None = None  # extra CA bundle / pinned self-signed certificate (PEM) for wss://
    # --- what pops up ---
    notify: frozenset[str] = DEFAULT_NOTIFY
    url_template: str = ""  # the agent's override of where a click goes ("": the admin's, see conversation_template)
    admin_url_template: str = ""  # the admin's, from the bridge's signed config frame (kept for when offline)
    account_id: str = ""  # the Acquire account, for {account} in url_template ("" = the event's own)
    # --- app ---
    retention_days: int = number(30, 1, 3650, " days", "Keep history for days")  # local history
    start_at_login: bool = False
    log_level: str = choice("INFO", LOG_LEVELS)
    dnd_until: str | None = None  # ISO 8601 aware time; None = do-not-disturb off
    # --- issue 4: alerts that fit an agent's day (defaults from the issue) ---
    realert_interval_s: int = number(60, 0, 3600, " s", "Re-alert a waiting customer every seconds")  # 0: never
    realert_max: int = number(5, 1, 50, " times", "Re-alert at most this many times")
    burst_size: int = number(3, 0, 50, " alerts", "Group when more than this many alerts arrive")  # 0: never
    burst_window_s: int = number(10, 1, 300, " s", "Group alerts arriving within seconds")
    catch_up_summary: bool = True  # a backlog produces one "N events while you were away" notification
    working_hours_enabled: bool = False
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    working_start: str = clock_time("09:00")  # local time
    working_end: str = clock_time("17:00")
    dnd_allow_new_cases: bool = False  # still alert for new cases during DND
    sound_enabled: bool = True
    sound_kinds: frozenset[str] = frozenset({"case.new", "chat.status/pending", "chat.status/queue"})
    sound_volume: int = number(70, 0, 100, " %", "Sound volume")
    only_mine: bool = False  # filter to my agent id / departments (unassigned new/pending/queued always shown)
    my_agent_id: str = ""
    my_departments: tuple[str, ...] = ()
    offline_alarm_s: int = number(60, 10, 3600, " s", "Warn when the connection is down for seconds")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def conversation_template(self) -> str:
        """Where a click on an alert goes: the agent's override (*Settings → Advanced*), else the admin's (the
        bridge's ``--conversation-url``, from its signed config frame), else the default. A stored override equal
        to the default is no override (older settings files stored the default)."""
        if self.url_template and self.url_template != DEFAULT_TEMPLATE:
            return self.url_template
        return self.admin_url_template or DEFAULT_TEMPLATE

    @property
    def configured(self) -> bool:
        """Bridge address and key are set (the token is checked separately, in the keyring)."""
        return bool(self.bridge_url and self.key)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> tuple[Settings, list[str]]:
        """Settings from parsed JSON; unknown keys are ignored, bad values fall back to defaults (listed)."""
        problems: list[str] = []
        if not isinstance(data, dict):
            return cls(), ["the settings file does not hold a JSON object"]
        defaults = cls()
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            try:
                values[f.name] = _coerce(f.name, raw, getattr(defaults, f.name))
            except (TypeError, ValueError) as exc:
                problems.append(f"{f.name}: {exc}; using the default")
        return cls(**values), problems


#: Every whole-number setting's :class:`Bounds`, from the field declarations.
_BOUNDS: Final[dict[str, Bounds]] = {
    f.name: f.metadata["bounds"] for f in dataclasses.fields(Settings) if "bounds" in f.metadata
}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    f.name: f.metadata["choices"] for f in dataclasses.fields(Settings) if "choices" in f.metadata
}
_CLOCKS: Final = frozenset(f.name for f in dataclasses.fields(Settings) if f.metadata.get("clock"))


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """``raw`` checked against the type of ``default`` (plus a few value rules)."""
    if name in ("ca_file", "dnd_until"):
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise TypeError("expected text or null")
        return raw or None
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise TypeError("expected true or false")
        return raw
    if isinstance(default, int):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError("expected a whole number")
        limit = _BOUNDS[name]
        if not limit.low <= raw <= limit.high:
            raise ValueError(f"must be between {limit.low} and {limit.high}")
        return raw
    if isinstance(default, str):
        if not isinstance(raw, str):
            raise TypeError("expected text")
        if name in _CHOICES:  # any case; stored as declared
            allowed = _CHOICES[name]
            chosen = next((c for c in allowed if c.casefold() == raw.casefold()), None)
            if chosen is None:
                raise ValueError(f"must be one of {', '.join(allowed)}")
            return chosen
        if name in _CLOCKS and not _HHMM.match(raw):
            raise ValueError("expected HH:MM")
        return raw
    if isinstance(default, frozenset):
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise TypeError("expected a list of texts")
        raw = [_NOTIFY_ALIASES.get(x, x) for x in raw]
        unknown = sorted(set(raw) - _VALID_NOTIFY)
        if unknown:
            log.info("settings: %s: ignoring unknown kinds %s", name, unknown)
        return frozenset(x for x in raw if x in _VALID_NOTIFY)
    if isinstance(default, tuple):
        if not isinstance(raw, list):
            raise TypeError("expected a list")
        if name == "working_days":
            if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 6 for x in raw):
                raise ValueError("expected week days 0 (Monday) to 6")
            return tuple(sorted(set(raw)))
        if not all(isinstance(x, str) for x in raw):
            raise TypeError("expected a list of texts")
        return tuple(raw)
    raise TypeError(f"unsupported setting {name}")  # pragma: no cover - every field is handled above


def load_report(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The stored settings and the problems found (words), defaults when the file is missing or damaged."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot read the settings file {path}: {exc}; using the defaults"
        log.warning("%s", problem)
        return Settings(), [problem]
    try:
        data = json.loads(text)
    except ValueError as exc:
        backup = path.with_name(path.name + ".damaged")
        try:
            write_private(backup, text)
        except OSError:
            backup = path
        problem = f"the settings file {path} is damaged ({exc}); using the defaults (a copy is in {backup})"
        log.warning("%s", problem)
        return Settings(), [problem]
    settings, problems = Settings.from_json(data)
    for problem in problems:
        log.warning("settings file %s: %s", path, problem)
    return settings, problems


def load(path: Path | None = None) -> Settings:
    """The stored settings; never raises for a missing or damaged file (see the module doc)."""
    return load_report(path)[0]


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temporary file in the same directory, fsync, ``os.replace``). Raises ``OSError``."""
    path = path or settings_path()
    private_dir(path.parent)
    text = json.dumps(settings.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
