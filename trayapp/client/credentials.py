"""The bridge token, kept in the OS keyring (service ``"trayapp"``, user name = the bridge URL). Never in a file.

``store_token(url, token)``, ``load_token(url) -> str | None``, ``delete_token(url)``. When no secure keyring
back-end exists (no Secret Service / no D-Bus session, or only a plaintext back-end such as ``keyrings.alt``'s) they
raise :class:`~trayapp.client.errors.NoKeyring` with words for the agent — there is no plaintext fallback.

These calls may block (D-Bus, an unlock prompt): never call them in the GUI thread.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from .errors import CredentialsError, NoKeyring

log = logging.getLogger(__name__)

SERVICE: Final = "trayapp"
#: Back-ends that would store the token in plain text or not at all (module.Class names).
_REFUSED: Final = frozenset(
    {
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.file.EncryptedKeyring",  # a password prompt on a tty; not for a tray app
        "keyrings.alt.Windows.RegistryKeyring",
        "keyring.backends.null.Keyring",
        "keyring.backends.fail.Keyring",
    }
)
NO_KEYRING_HELP: Final = (
    "no secure keyring is available to store the connection token (on Linux: start a Secret Service such as "
    "GNOME Keyring or KWallet in your session); the token is never stored in a plain file"
)


def _name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _backend() -> Any:
    """The keyring back-end to use; :class:`NoKeyring` when it is missing or insecure."""
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend
    except ImportError:
        raise NoKeyring("the keyring package is not installed: " + NO_KEYRING_HELP) from None
    backend = keyring.get_keyring()
    candidates = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    usable = [b for b in candidates if _name(b) not in _REFUSED]
    if not usable:
        names = ", ".join(_name(b) for b in candidates) or "none"
        log.warning("keyring: no secure back-end (found: %s)", names)
        raise NoKeyring(NO_KEYRING_HELP)
    return backend if len(usable) == len(candidates) else usable[0]


def backend_name() -> str:
    """Which keyring back-end would be used (for the settings dialog / --debug); raises :class:`NoKeyring`."""
    return _name(_backend())


def _call(action: str, fn: Any, *args: str) -> Any:
    import keyring.errors

    try:
        return fn(*args)
    except keyring.errors.NoKeyringError:
        raise NoKeyring(NO_KEYRING_HELP) from None
    except keyring.errors.KeyringLocked:
        raise CredentialsError(f"the keyring is locked: unlock it to {action} the connection token") from None
    except keyring.errors.KeyringError as exc:
        # The message of a back-end error never contains the token (it is not part of the arguments we log).
        raise CredentialsError(f"cannot {action} the connection token in the keyring: {exc}") from None


def store_token(bridge_url: str, token: str) -> None:
    if not bridge_url or not token:
        raise CredentialsError("both the bridge address and the token are needed")
    backend = _backend()
    _call("store", backend.set_password, SERVICE, bridge_url, token)
    log.info("keyring: token stored for %s (%s)", bridge_url, _name(backend))


def load_token(bridge_url: str) -> str | None:
    if not bridge_url:
        return None
    backend = _backend()
    value = _call("read", backend.get_password, SERVICE, bridge_url)
    return value if isinstance(value, str) and value else None


def delete_token(bridge_url: str) -> bool:
    """Remove the token; False if there was none."""
    import keyring.errors

    backend = _backend()

    def delete(service: str, user: str) -> bool:
        try:
            backend.delete_password(service, user)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return bool(_call("delete", delete, SERVICE, bridge_url))
