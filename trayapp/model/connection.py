"""The connection state the tray shows: :class:`ConnectionState` plus :class:`ConnectionStatus`.

``problem`` says *why* the connection is in ERROR (or OFFLINE because the bridge cannot be reached), so the UI can
choose its words and ``trayapp listen`` its exit code: :class:`Problem`.

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


class Problem(enum.Enum):
    TOKEN_REFUSED = "token_refused"  # HTTP 401 at the handshake: the bridge does not know the token
    REVOKED = "revoked"  # HTTP 403 at the handshake, or close 4001: the admin turned this token off
    KEY_MISMATCH = "key_mismatch"  # the signed hello does not verify with the link's key (wrong or stale link)
    UNREACHABLE = "unreachable"  # the bridge cannot be reached (or refuses to talk: 5xx, not a bridge)
    INTERNAL = "internal"  # a bug, or the local history cannot be written


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    state: ConnectionState
    since: datetime = field(default_factory=_now)  # aware
    detail: str = ""  # words for the tooltip
    problem: Problem | None = None

    def follow(self, state: ConnectionState, detail: str, now: datetime | None = None, *,
               problem: Problem | None = None) -> ConnectionStatus:
        """The next status: keeps ``since`` when the state does not change."""
        if state is self.state:
            return ConnectionStatus(state, self.since, detail, problem)
        return ConnectionStatus(state, now or _now(), detail, problem)
