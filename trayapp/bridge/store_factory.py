"""Which backend a command uses: Redis when a URL is given (``--redis-url`` / ``TRAYAPP_REDIS_URL``), else SQLite.

``make_store(data_dir=..., redis_url=...)`` returns an unopened :class:`~trayapp.bridge.store.Store`. The Redis
backend needs the ``redis`` extra (``pip install 'trayapp[redis]'``); without it, or with a URL that is not
``redis://``, ``rediss://`` or ``unix://``, it raises :class:`~trayapp.bridge.errors.ConfigError` with a clear message.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError
from .store import DEFAULT_DEDUPE_WINDOW_S, Store

REDIS_URL_ENV = "TRAYAPP_REDIS_URL"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_url_from(flag: str | None) -> str | None:
    """The flag's value, else ``$TRAYAPP_REDIS_URL``; ``None`` (SQLite) when both are empty."""
    url = flag if flag else os.environ.get(REDIS_URL_ENV, "")
    return url.strip() or None


def make_store(*, data_dir: Path, redis_url: str | None, dedupe_window: float = DEFAULT_DEDUPE_WINDOW_S) -> Store:
    """``dedupe_window``: seconds a delivery is recognised as a repeat -- the serving bridge's retention."""
    if not redis_url:
        from .store_sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir), dedupe_window)
    if not redis_url.startswith(REDIS_SCHEMES):
        raise ConfigError(f"--redis-url must start with redis://, rediss:// or unix:// (got {redis_url!r})")
    try:
        from .store_redis import RedisStore
    except ImportError as exc:
        raise ConfigError(f"the Redis backend needs the redis extra: pip install 'trayapp[redis]' ({exc})") from exc
    return RedisStore(redis_url, dedupe_window=dedupe_window)
