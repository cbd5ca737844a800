"""The bridge's one typed settings object, built from CLI flags and the environment.

Sources: ``--data-dir`` / ``TRAYAPP_BRIDGE_DATA`` (default: the platformdirs user data dir of ``trayapp-bridge``);
webhook secrets from ``ACQUIRE_WEBHOOK_SECRET`` (several, comma-separated, for rotation) and/or ``--secret-file``
(one secret per line, taken whole -- commas included; ``#`` comment lines); secrets shorter than
:data:`MIN_SECRET_CHARS` are accepted but warned about loudly at start (:func:`weak_secret_warnings`);
``--event-table FILE``: a JSON object that extends the event-name table
(``{"case.reopened": "chat.status/pending", "ticket.created": {"kind": "case.new"}}``); ``--redis-url`` /
``TRAYAPP_REDIS_URL``: the Redis store (``None``: SQLite in the data dir). Every other serve flag is one field of
:class:`BridgeConfig`, whose defaults the CLI shows (:func:`default`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from trayapp.core import wire
from trayapp.core.acquire import EventTable
from trayapp.core.errors import BadPayload
from trayapp.core.urls import DEFAULT_TEMPLATE, template_problem

from .errors import ConfigError

ENV_SECRET = "ACQUIRE_WEBHOOK_SECRET"
ENV_DATA = "TRAYAPP_BRIDGE_DATA"
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY = 1 << 20
MIN_SECRET_CHARS = 16
BODY_RATE_FLOOR = 64 * 1024  # bytes/s: the body deadline is head_timeout + max_body / this, unless given


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("trayapp-bridge", appauthor=False))


@dataclass(frozen=True)
class BridgeConfig:
    data_dir: Path
    secrets: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body: int = DEFAULT_MAX_BODY
    retention_days: float = 7.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    event_table: EventTable = field(default_factory=EventTable.default)
    queue_size: int = 1024  # frames buffered per WebSocket before "slow consumer" (4008)
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    revocation_poll: float = 0.25
    prune_interval: float = 3600.0
    demo: bool = False
    access_log: bool = False
    log_level: str = "warning"
    redis_url: str | None = None  # --redis-url / TRAYAPP_REDIS_URL: the shared Redis store instead of SQLite
    bad_signature_burst: int = 20  # limits.py: bad signatures per address before 429 (0: no limit)
    bad_signature_rate: float = 1.0  # ... refilled per second
    max_sockets_per_token: int = 20  # open /v1/stream sockets per token and process (0: no limit)
    max_unverified_per_address: int = 8  # webhooks per address being read / verified at once (0: no limit)
    unverified_wait: float = 5.0  # how long one more waits for such a slot before 429
    head_timeout: float = 5.0  # seconds for a request line + headers to arrive (from connect or first byte)
    body_timeout: float | None = None  # seconds for a request body; None: head_timeout + max_body / 64 KiB/s
    tls_handshake_timeout: float = 5.0
    keep_alive_timeout: float = 30.0  # idle HTTP keep-alive connections are closed after this
    max_connections: int = 10_000  # open connections (HTTP + WebSocket) per process; also bound by `ulimit -n`
    max_connections_per_address: int = 128  # ... per peer address (trusted proxies exempt; 0: no limit)
    conversation_url: str = DEFAULT_TEMPLATE  # where a click on an alert goes, for every app (signed config frame)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def body_deadline(self) -> float:
        if self.body_timeout is not None:
            return self.body_timeout
        return self.head_timeout + self.max_body / BODY_RATE_FLOOR

    @property
    def replay_window(self) -> float:
        """Seconds a delivery is recognised as a duplicate (= the retention), and the oldest event time accepted."""
        return self.retention_days * 86400.0

    def require_secret(self) -> None:
        if not self.secrets:
            raise ConfigError(
                "no webhook secret configured: set ACQUIRE_WEBHOOK_SECRET (comma-separated for rotation) "
                "or pass --secret-file FILE"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")


def parse_secrets(env_value: str | None, secret_file: Path | None) -> tuple[str, ...]:
    """The environment's secrets split on commas, then the file's, one a line (a comma is part of a secret)."""
    found: list[str] = []
    if env_value:
        found.extend(s.strip() for s in env_value.split(","))
    if secret_file is not None:
        try:
            text = Path(secret_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read --secret-file {secret_file}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"--secret-file {secret_file} is not UTF-8 text") from exc
        found.extend(line.strip() for line in text.splitlines() if not line.strip().startswith("#"))
    return tuple(dict.fromkeys(s for s in found if s))


def weak_secret_warnings(secrets: tuple[str, ...]) -> list[str]:
    """One loud line per secret shorter than :data:`MIN_SECRET_CHARS` (never the secret itself)."""
    return [f"WEBHOOK SECRET #{n} IS ONLY {len(s)} CHARACTERS: anyone who guesses it can post fake alerts; use at "
            f"least {MIN_SECRET_CHARS} random characters (e.g. python3 -c 'import secrets; "
            f"print(secrets.token_hex(24))') in Acquire and here"
            for n, s in enumerate(secrets, 1) if len(s) < MIN_SECRET_CHARS]


def load_event_table(path: Path | None) -> EventTable:
    table = EventTable.default()
    if path is None:
        return table
    try:
        mapping: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read event table {path}: {exc}") from exc
    if not isinstance(mapping, dict):
        raise ConfigError(f"event table {path} must be a JSON object of name -> 'kind[/status]'")
    try:
        return table.extended(mapping)
    except BadPayload as exc:
        raise ConfigError(f"event table {path}: {exc}") from exc


def from_args(
    *,
    data_dir: str | Path | None = None,
    secret_file: str | Path | None = None,
    event_table: str | Path | None = None,
    **kwargs: Any,
) -> BridgeConfig:
    """Settings from parsed CLI options (``None`` means "not given") plus the environment."""
    options = {k: v for k, v in kwargs.items() if v is not None}
    for name in ("tls_cert", "tls_key"):
        if name in options:
            options[name] = Path(options[name])
    if "secrets" not in options:
        options["secrets"] = parse_secrets(os.environ.get(ENV_SECRET),
                                           Path(secret_file) if secret_file else None)
    if options.get("max_body", 1) <= 0:
        raise ConfigError("--max-body must be positive")
    problem = wire.max_body_problem(options.get("max_body", DEFAULT_MAX_BODY))
    if problem:  # every webhook we accept must reach the apps: refuse to start rather than refuse deliveries
        raise ConfigError(problem)
    for name in ("bad_signature_burst", "bad_signature_rate", "max_sockets_per_token", "max_unverified_per_address",
                 "max_connections", "max_connections_per_address"):
        if options.get(name, 0) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
    for name in ("head_timeout", "body_timeout", "tls_handshake_timeout", "keep_alive_timeout", "unverified_wait"):
        if options.get(name, 1) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    if options.get("retention_days", 1) <= 0:
        raise ConfigError("--retention-days must be positive")
    template_error = template_problem(options.get("conversation_url", DEFAULT_TEMPLATE))
    if template_error:
        raise ConfigError(f"--conversation-url: {template_error}")
    return BridgeConfig(
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
        event_table=load_event_table(Path(event_table) if event_table else None),
        **options,
    )


def default(name: str) -> Any:
    """The default of one :class:`BridgeConfig` field (the CLI shows and uses these; no second copy)."""
    return BridgeConfig.__dataclass_fields__[name].default
