"""``trayapp connect LINK``: store a connection link (token → keyring, URL + key → settings); test a connection.

Entry points (no Qt imported; everything here may block, so call it off the GUI thread)::

    save_link(link: Link | str, settings_file: Path | None = None, *, forget_old: bool = True) -> Settings
    prove(link: Link | str | None = None, *, ca_file: str | None = None, timeout: float = 10.0) -> ProbeResult

``prove`` opens the stream with a fresh nonce and checks the signed ``hello`` with the link's key (protocol version 2:
a link whose key does not match the bridge is caught now, not at the first alert, also on a bridge that holds no event
yet; the first frame goes through the same :class:`~trayapp.core.stream.StreamSession` as the app's connection). It
never raises a ``ClientError``: it answers a :class:`~trayapp.client.proof.ProbeResult` (ok / unreachable / key
mismatch / token refused / revoked / broken), what the app's link flow decides from before it stores a link.
``link=None`` proves the stored connection. :func:`probe` is the coroutine under it (raises the ``ClientError``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..core import stream, wire
from ..core.errors import BadLink
from ..core.link import Link, parse_link, stream_url
from ..core.stream import StreamSession
from ..settings import Settings, load, save, settings_path
from . import credentials
from .connection import KEY_MISMATCH, ConnectionConfig, host_of, open_stream, ssl_context
from .errors import ClientError, ConnectionFailed, KeyMismatch, NotConfigured
from .proof import Outcome, ProbeResult, failed

log = logging.getLogger(__name__)


def _link(link: Link | str) -> Link:
    if isinstance(link, Link):
        return link
    try:
        return parse_link(link)
    except BadLink as exc:
        raise ClientError(str(exc)) from None


def save_link(link: Link | str, settings_file: Path | None = None, *, forget_old: bool = True) -> Settings:
    """Token into the keyring first (nothing is saved if that fails), then URL + key into the settings file.

    ``forget_old``: delete the previous bridge's token (when the URL changes). The app passes False for a link saved
    without a successful check (*Save anyway*) and forgets the old token once the new connection works."""
    parsed = _link(link)
    credentials.store_token(parsed.url, parsed.token)
    current = load(settings_file)
    updated = current.replace(bridge_url=parsed.url, key=parsed.key)
    try:
        save(updated, settings_file)
    except OSError as exc:
        raise ClientError(f"cannot write the settings file {settings_file or settings_path()}: {exc}") from None
    if forget_old and current.bridge_url and current.bridge_url != parsed.url:
        try:  # do not leave the old bridge's token behind
            credentials.delete_token(current.bridge_url)
        except ClientError as exc:
            log.info("connect: could not remove the old token for %s: %s", current.bridge_url, exc)
    log.info("connect: saved the connection to %s", parsed.url)
    return updated


def _stored_config(ca_file: str | None) -> ConnectionConfig:
    settings = load()
    if not settings.configured:
        raise NotConfigured("not connected yet: paste the connection link from your admin")
    token = credentials.load_token(settings.bridge_url)
    if not token:
        raise NotConfigured("no token in the keyring: paste the connection link again")
    return ConnectionConfig(settings.bridge_url, token, settings.key, ca_file or settings.ca_file)


async def probe(config: ConnectionConfig, timeout: float = 10.0) -> ProbeResult:
    """An OK :class:`ProbeResult` (``detail``: what was checked), or a ``ClientError`` (see :func:`test_connection`)."""
    config.check()
    host = host_of(config.bridge_url)
    nonce = wire.new_nonce()
    url = stream_url(config.bridge_url, nonce=nonce)
    context = ssl_context(config.ca_file) if url.startswith("wss:") else None
    key = wire.key_from_text(config.key)

    async def run() -> ProbeResult:
        ws = await open_stream(config, url, context)
        try:
            decision = StreamSession(key, nonce).receive(await ws.recv())
        finally:
            await ws.close()
        if isinstance(decision, stream.Connected):
            return ProbeResult(Outcome.OK, host, f"connected to {host}; signing key verified "
                                                 f"({decision.hello.head} events so far)", key_proven=True)
        if isinstance(decision, stream.Fail) and decision.failure is stream.Failure.KEY_MISMATCH:
            raise KeyMismatch(f"connected to {host}, but {KEY_MISMATCH}")
        if isinstance(decision, stream.Fail):
            raise ConnectionFailed(f"{host} {decision.reason}")
        reason = getattr(decision, "reason", "not a hello")
        raise ConnectionFailed(f"{host} sent something unexpected: {reason}")

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise ConnectionFailed(f"{host} did not answer within {timeout:.0f} s") from None


def _config(link: Link | str | None, ca_file: str | None) -> ConnectionConfig:
    if link is None:
        return _stored_config(ca_file)
    parsed = _link(link)
    return ConnectionConfig(parsed.url, parsed.token, parsed.key, ca_file)


def prove(link: Link | str | None = None, *, ca_file: str | None = None, timeout: float = 10.0) -> ProbeResult:
    """The probe's outcome, never a ``ClientError`` (blocking: never call it in the GUI thread)."""
    host = ""
    try:
        config = _config(link, ca_file)
        host = host_of(config.bridge_url)
        return asyncio.run(probe(config, timeout))
    except ClientError as exc:
        result = failed(exc, host)
        log.info("connect: probe of %s: %s (%s)", host or "the link", result.outcome.value, result.detail)
        return result
