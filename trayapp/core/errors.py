"""The root of every error raised by :mod:`trayapp.core`."""


class CoreError(Exception):
    """Base class: a value handed to core was not acceptable."""


class BadPayload(CoreError):
    """A webhook body is not a JSON object we can accept (HTTP 400 at the bridge)."""


class BadSignature(CoreError):
    """A signature is missing or does not match (HTTP 401 at the bridge, dropped in the app)."""


class BadMessage(CoreError):
    """A wire message from the bridge is malformed."""


class BadLink(CoreError):
    """A connection link cannot be used."""
