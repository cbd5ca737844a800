"""The connection link an admin sends an agent: ``trayapp://connect?url=...&token=...&key=ed25519:...``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from .errors import BadLink, BadMessage
from .wire import key_from_text

SCHEME: Final = "trayapp"


@dataclass(frozen=True, slots=True)
class Link:
    url: str  # the bridge's base URL, http(s)://host[:port][/prefix]
    token: str
    key: str  # ed25519:<base64>

    def __repr__(self) -> str:  # never show the token in logs or tracebacks
        return f"Link(url={self.url!r}, token='***', key={self.key!r})"


def build_link(url: str, token: str, key: str) -> str:
    """The link text, parameters percent-encoded."""
    query = urlencode({"url": url, "token": token, "key": key}, quote_via=quote, safe="")
    return f"{SCHEME}://connect?{query}"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bridge_url(url: str) -> str:
    """A usable bridge base URL (no trailing slash); plain http only to loopback hosts."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise BadLink("the bridge address must start with https:// (or http:// on this computer)")
    if parts.scheme in ("http", "ws") and not is_loopback(parts.hostname):
        raise BadLink(f"refusing an unencrypted connection to {parts.hostname}: the bridge address must use https://")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BadLink("the bridge address must not carry a query, fragment or credentials")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_link(text: str) -> Link:
    """Parse and check a pasted link; :class:`BadLink` says in words what is wrong."""
    text = (text or "").strip()
    parts = urlsplit(text)
    if parts.scheme != SCHEME or parts.netloc != "connect":
        raise BadLink("this is not a trayapp connection link (it should start with trayapp://connect?)")
    params = parse_qs(parts.query, keep_blank_values=True)
    values = {}
    for name in ("url", "token", "key"):
        found = params.get(name, [])
        if len(found) != 1 or not found[0].strip():
            raise BadLink(f"the connection link has no {name}: ask your admin for a new link")
        values[name] = found[0].strip()
    # A hand-made link may carry the base64 key unencoded; its "+" then reads as a space.
    values["key"] = values["key"].replace(" ", "+")
    try:
        key_from_text(values["key"])
    except BadMessage as exc:
        raise BadLink(f"the connection link's key is damaged: {exc}") from None
    return Link(url=check_bridge_url(values["url"]), token=values["token"], key=values["key"])


def stream_url(bridge_url: str, since: int | None = None, epoch: str | None = None, nonce: str | None = None) -> str:
    """The WebSocket URL of ``/v1/stream`` for a bridge base URL."""
    parts = urlsplit(check_bridge_url(bridge_url))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = {}
    if since is not None:
        query["since"] = str(since)
    if epoch is not None:
        query["epoch"] = epoch
    if nonce is not None:
        query["nonce"] = nonce
    return urlunsplit((scheme, parts.netloc, parts.path + "/v1/stream", urlencode(query), ""))
