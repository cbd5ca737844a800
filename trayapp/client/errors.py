"""The root of every error raised by :mod:`trayapp.client`; messages are words an agent can act on."""

from __future__ import annotations


class ClientError(Exception):
    """Base class: something the desktop client could not do."""


class NotConfigured(ClientError):
    """No bridge address, key or token yet: the agent has to paste a connection link."""


class CredentialsError(ClientError):
    """The token could not be stored in or read from the OS keyring."""


class NoKeyring(CredentialsError):
    """No usable (non-plaintext) keyring back-end exists on this system."""


class TokenRefused(ClientError):
    """The bridge refused the token (HTTP 401 at the handshake: it does not know it)."""


class TokenRevoked(TokenRefused):
    """The token was revoked (HTTP 403 at the handshake, or close code 4001)."""


class KeyMismatch(ClientError):
    """The bridge's signed ``hello`` does not verify with the link's key: a wrong or stale link (or not our bridge)."""


class ConnectionFailed(ClientError):
    """The bridge could not be reached or broke the protocol."""


class HistoryError(ClientError):
    """The local history database cannot be opened or written."""


class EventNotStored(HistoryError):
    """This one event cannot be stored (its content, not the database): the connection skips it."""
