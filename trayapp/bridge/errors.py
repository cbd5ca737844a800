"""The root of every error raised by :mod:`trayapp.bridge`, and its HTTP status at the edge.

Every ``BridgeError`` carries the HTTP status it answers with (``status``) and a short reason that ends up in the
JSON error body ``{"error": "..."}``. Nothing inside the bridge turns into a 5xx: the edges (``ingest``, ``app``)
catch ``BridgeError`` and answer ``status``; a store that cannot be reached is 503 (retryable by Acquire).
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class of the bridge's errors; ``status`` is the HTTP answer at the edge."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(BridgeError):
    """The bridge cannot start with this configuration (a clear message for the admin)."""

    status = 500


class MethodNotAllowed(BridgeError):
    status = 405


class BodyTooLarge(BridgeError):
    status = 413


class Unauthorized(BridgeError):
    status = 401


class Forbidden(BridgeError):
    status = 403


class BadRequest(BridgeError):
    status = 400


class StoreUnavailable(BridgeError):
    """The store could not be reached or did not answer in time (503; Acquire retries)."""

    status = 503


class StoreClosed(StoreUnavailable):
    """The store is shutting down."""
