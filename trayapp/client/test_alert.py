"""*Send me a test alert*: ask the bridge to send a signed test alert to this token's own open streams.

``request_test_alert(config, timeout=10) -> int`` POSTs ``/v1/test-alert`` with the token (blocking: call it off the
GUI thread, e.g. with ``asyncio.to_thread``) and answers how many of this token's streams the bridge sent it to.
Raises :class:`TokenRevoked` (403), :class:`TokenRefused` (401), :class:`ConnectionFailed` (no answer, any other
status; the bridge's reason in the message). The alert itself arrives on the stream as a ``test_alert`` frame
(``core.wire.CheckFrame``), verified with the pinned key like every event.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Final

from .connection import TOKEN_REFUSED, ConnectionConfig, host_of, ssl_context
from .errors import ConnectionFailed, TokenRefused, TokenRevoked

PATH: Final = "/v1/test-alert"


def request_test_alert(config: ConnectionConfig, timeout: float = 10.0) -> int:
    config.check()
    host = host_of(config.bridge_url)
    url = config.bridge_url.rstrip("/") + PATH
    if url.startswith("ws"):
        url = "http" + url[2:]
    context = ssl_context(config.ca_file) if url.startswith("https:") else None
    request = urllib.request.Request(url, data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {config.token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            reason = _reason(exc.read())
        if exc.code == 403:
            raise TokenRevoked(TOKEN_REFUSED) from None
        if exc.code == 401:
            raise TokenRefused(TOKEN_REFUSED) from None
        raise ConnectionFailed(f"{host} answered HTTP {exc.code}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise ConnectionFailed(f"cannot reach {host}: {exc}") from None
    sent = answer.get("sent") if isinstance(answer, dict) else None
    if not isinstance(sent, int) or isinstance(sent, bool):
        raise ConnectionFailed(f"{host} did not answer like a trayapp bridge")
    return sent


def _reason(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "no reason given"
    return str(data.get("error", "no reason given"))[:200] if isinstance(data, dict) else "no reason given"
