"""The desktop settings object: defaults, JSON round trip, damaged files, atomic writes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from trayapp import settings as settings_mod
from trayapp.core.event import Event
from trayapp.core.urls import DEFAULT_TEMPLATE
from trayapp.settings import DEFAULT_NOTIFY, Settings, load, load_report, notify_key, save, settings_path


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRAYAPP_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("TRAYAPP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "cfg"


def test_conversation_template_override_admin_default() -> None:
    admin, own = "https://desk.example.com/c/{case_id}", "https://mine.example.com/{case_id}"
    assert Settings(admin_url_template=admin).conversation_template == admin
    assert Settings(admin_url_template=admin, url_template=own).conversation_template == own
    # older settings files stored the default itself: that is no override of the admin's
    assert Settings(admin_url_template=admin, url_template=DEFAULT_TEMPLATE).conversation_template == admin


def test_defaults() -> None:
    s = Settings()
    assert s.notify == frozenset(
        {"case.new", "chat.status/pending", "chat.status/queue", "chat.status/active", "chat.status/closed"}
    )
    assert s.url_template == "" and s.conversation_template == DEFAULT_TEMPLATE
    assert (s.retention_days, s.start_at_login, s.log_level, s.dnd_until) == (30, False, "INFO", None)
    assert (s.realert_interval_s, s.realert_max, s.burst_size, s.offline_alarm_s) == (60, 5, 3, 60)
    assert not s.configured


def test_env_overrides_dirs(config_dir: Path, tmp_path: Path) -> None:
    assert settings_path() == config_dir / "settings.json"
    assert settings_mod.data_dir() == tmp_path / "data"


def test_missing_file_gives_defaults() -> None:
    assert load() == Settings()
    assert load_report() == (Settings(), [])


def test_round_trip_every_field(config_dir: Path) -> None:
    s = Settings(
        bridge_url="https://bridge.example.com",
        key="ed25519:" + "A" * 43 + "=",
        ca_file="/etc/ssl/bridge.pem",
        notify=frozenset({"case.new", "chat.message", "agent.status/available"}),
        url_template="https://acme.example.com/case/{case_id}",
        account_id="acme",
        retention_days=7,
        start_at_login=True,
        log_level="DEBUG",
        dnd_until="2026-11-25T10:00:00+00:00",
        working_hours_enabled=True,
        working_days=(0, 2, 4),
        working_start="08:30",
        working_end="16:45",
        sound_kinds=frozenset({"case.new"}),
        sound_volume=20,
        only_mine=True,
        my_agent_id="42",
        my_departments=("Sales", "Support"),
    )
    path = save(s)
    assert path == config_dir / "settings.json"
    assert load() == s
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["notify"] == ["agent.status/available", "case.new", "chat.message"]
    assert "token" not in json.dumps(data).lower()
    assert [p.name for p in config_dir.iterdir()] == ["settings.json"]  # no temp file left behind


def test_damaged_file_falls_back_to_defaults_with_a_log_line(config_dir: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text('{"bridge_url": "https://x", ')
    with caplog.at_level(logging.WARNING, logger="trayapp.settings"):
        settings, problems = load_report()
    assert settings == Settings()
    assert len(problems) == 1 and "damaged" in problems[0]
    assert "damaged" in caplog.text
    assert (config_dir / "settings.json.damaged").read_text() == '{"bridge_url": "https://x", '


@pytest.mark.parametrize("content", ["[]", "null", "42", '"text"', "\udcff"])
def test_not_an_object(config_dir: Path, content: str) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    settings, problems = load_report()
    assert settings == Settings() and problems


def test_bad_fields_fall_back_one_by_one(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(json.dumps({
        "bridge_url": "https://bridge.example.com",
        "retention_days": "thirty",
        "sound_volume": 500,
        "start_at_login": 1,
        "log_level": "loud",
        "working_start": "25:00",
        "working_days": [0, 9],
        "notify": ["case.new", "chat.pending", "bogus"],
        "future_field": {"x": 1},
    }))
    settings, problems = load_report()
    assert settings.bridge_url == "https://bridge.example.com"
    assert settings.retention_days == 30 and settings.sound_volume == 70 and settings.start_at_login is False
    assert settings.log_level == "INFO" and settings.working_start == "09:00"
    assert settings.working_days == (0, 1, 2, 3, 4)
    assert settings.notify == frozenset({"case.new", "chat.status/pending"})  # alias accepted, unknown dropped
    assert len(problems) == 6


def test_log_level_case_insensitive(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text('{"log_level": "debug"}')
    assert load().log_level == "DEBUG"


def test_atomic_save_keeps_old_file_on_failure(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(Settings(account_id="old"))

    def broken(*args: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", broken)
        with pytest.raises(OSError, match="disk full"):
            save(Settings(account_id="new"))
    assert load().account_id == "old"
    assert [p.name for p in config_dir.iterdir()] == ["settings.json"]


def test_notify_keys() -> None:
    assert notify_key(Event(kind="chat.status", acquire_event="x", status="closed")) == "chat.status/closed"
    assert frozenset(settings_mod.NOTIFY_CHOICES) >= DEFAULT_NOTIFY


def test_frozen_and_replace() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.bridge_url = "x"  # type: ignore[misc]
    assert s.replace(account_id="acme").account_id == "acme"


@pytest.mark.parametrize("name", ["retention_days", "realert_interval_s", "realert_max", "burst_size",
                                  "burst_window_s", "sound_volume", "offline_alarm_s"])
def test_whole_number_settings_are_checked_against_their_declared_bounds(name: str) -> None:
    limit = settings_mod.bounds(name)
    default = getattr(Settings(), name)
    assert limit.low <= default <= limit.high and limit.description
    for ok in (limit.low, limit.high):
        settings, problems = Settings.from_json({name: ok})
        assert getattr(settings, name) == ok and problems == []
    for bad in (limit.low - 1, limit.high + 1):
        settings, problems = Settings.from_json({name: bad})
        assert getattr(settings, name) == default
        assert problems == [f"{name}: must be between {limit.low} and {limit.high}; using the default"]


def test_choices_and_times_are_checked_against_their_declarations() -> None:
    assert settings_mod.choices("log_level") == ("DEBUG", "INFO", "WARNING", "ERROR")
    assert Settings.from_json({"log_level": "debug"})[0].log_level == "DEBUG"  # any case, stored as declared
    settings, problems = Settings.from_json({"log_level": "loud", "working_start": "9:00", "working_end": "25:00"})
    assert (settings.log_level, settings.working_start, settings.working_end) == ("INFO", "09:00", "17:00")
    assert problems == ["log_level: must be one of DEBUG, INFO, WARNING, ERROR; using the default",
                        "working_start: expected HH:MM; using the default",
                        "working_end: expected HH:MM; using the default"]
