"""The connection state the tray shows: :class:`ConnectionState` plus :class:`ConnectionStatus`.

``since`` is when the client entered ``state``: repeated updates of the same state (e.g. OFFLINE with a new
"retrying in 8 s" detail) keep the original ``since``, so "offline since 10:02" stays true across retries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


class ConnectionState(enum.Enum):
    NOT_CONFIGURED = "not_configured"  # no link pasted yet (or no token in the keyring)
    CONNECTING = "connecting"  # first attempt after start / new settings
    CONNECTED = "connected"  # hello received; alerts flow
    OFFLINE = "offline"  # lost or unreachable; retrying with backoff
    ERROR = "error"  # needs the agent: token refused, bad settings, no keyring, protocol mismatch


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    state: ConnectionState
    since: datetime = field(default_factory=_now)  # aware
    detail: str = ""  # words for the tooltip

    def follow(self, state: ConnectionState, detail: str, now: datetime | None = None) -> ConnectionStatus:
        """The next status: keeps ``since`` when the state does not change."""
        if state is self.state:
            return ConnectionStatus(state, self.since, detail)
        return ConnectionStatus(state, now or _now(), detail)
