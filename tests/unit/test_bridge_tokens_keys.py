"""Tokens, signing keys and settings of the bridge."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from trayapp.bridge import config, keys, tokens
from trayapp.bridge.errors import ConfigError


def test_tokens_are_random_and_hashed() -> None:
    a, b = tokens.new_token(), tokens.new_token()
    assert a != b and a.startswith("tb_") and len(a) == 46
    assert tokens.token_hash(a) == tokens.token_hash(a) and len(tokens.token_hash(a)) == 64
    assert a not in tokens.token_hash(a)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer tb_abcdefghijklmnopqrstuvwxyz", "tb_abcdefghijklmnopqrstuvwxyz"),
        ("bearer   tb_abcdefghijklmnopqrstuvwxyz ", "tb_abcdefghijklmnopqrstuvwxyz"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer short", None),
        ("Bearer tb_abc def ghi jkl mno pqr", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer(header: str | None, expected: str | None) -> None:
    assert tokens.bearer(header) == expected


def test_token_names() -> None:
    assert tokens.valid_name("Maria Lopez") and tokens.valid_name("agent-7@acme")
    assert not tokens.valid_name("") and not tokens.valid_name("-x") and not tokens.valid_name("a\nb")


def test_key_created_once_with_mode_0600_even_when_raced(tmp_path: Path) -> None:
    path = tmp_path / "d" / keys.KEY_FILE
    found: list[bytes] = []

    def load() -> None:
        found.append(keys.public_raw(keys.load_or_create(path)))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(found[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [keys.KEY_FILE]  # no temporary files left


def test_broken_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / keys.KEY_FILE
    path.write_text("not a key")
    with pytest.raises(ConfigError):
        keys.load_or_create(path)


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "s"
    f.write_text("# comment\n s3 \n\ns4,s1\ns1\n")
    # the environment splits on commas; the file takes each line whole (a comma may be part of a secret)
    assert config.parse_secrets(" s1, s2 ,,", f) == ("s1", "s2", "s3", "s4,s1")
    monkeypatch.setenv(config.ENV_SECRET, "a,b")
    monkeypatch.setenv(config.ENV_DATA, str(tmp_path / "data"))
    cfg = config.from_args(port=0, max_body=10)
    assert cfg.secrets == ("a", "b") and cfg.data_dir == tmp_path / "data" and cfg.max_body == 10
    cfg.require_secret()
    monkeypatch.delenv(config.ENV_SECRET)
    with pytest.raises(ConfigError, match="ACQUIRE_WEBHOOK_SECRET"):
        config.from_args().require_secret()
    with pytest.raises(ConfigError):
        config.from_args(secret_file=tmp_path / "missing")
    with pytest.raises(ConfigError):
        config.from_args(max_body=0)


def test_short_secrets_are_warned_about_without_showing_them() -> None:
    warnings = config.weak_secret_warnings(("whsec_d666d9171098cf67", "short,one", "x"))
    assert [w.split(" IS ONLY ")[0] for w in warnings] == ["WEBHOOK SECRET #2", "WEBHOOK SECRET #3"]
    assert "9 CHARACTERS" in warnings[0] and "1 CHARACTERS" in warnings[1]
    assert not any("short" in w for w in warnings)


def test_timeouts_and_caps_are_checked_and_the_body_deadline_follows_max_body() -> None:
    assert config.from_args(max_body=1 << 20).body_deadline == 5.0 + 16.0
    assert config.from_args(max_body=1 << 20, body_timeout=3.0).body_deadline == 3.0
    assert config.from_args(retention_days=2).replay_window == 2 * 86400
    for name in ("head_timeout", "body_timeout", "tls_handshake_timeout", "keep_alive_timeout"):
        with pytest.raises(ConfigError, match=name.replace("_", "-")):
            config.from_args(**{name: 0})
    with pytest.raises(ConfigError, match="max-connections-per-address"):
        config.from_args(max_connections_per_address=-1)


def test_event_table_extension_file(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"case.reopened": "chat.status/pending", "ticket.created": {"kind": "case.new"}}))
    table = config.load_event_table(f)
    rule = table.lookup("CASE_REOPENED")
    assert rule is not None and (rule.kind, rule.status) == ("chat.status", "pending")
    f.write_text(json.dumps({"x": "nonsense"}))
    with pytest.raises(ConfigError, match="unknown kind"):
        config.load_event_table(f)
    f.write_text("[1]")
    with pytest.raises(ConfigError):
        config.load_event_table(f)
