"""An in-process stand-in for the bridge's ``/v1/stream`` (websockets server) for fast, scripted client tests.

It speaks the protocol of ``docs/protocol.md`` with a real Ed25519 key; tests add events, tamper with frames, refuse
tokens or close sockets with chosen codes. The real bridge is used by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.support.client import quick_delays, run_connection
from trayapp.client.connection import Connection, ConnectionConfig
from trayapp.client.history import History
from trayapp.core import wire
from trayapp.core.acquire import parse_body
from trayapp.core.errors import BadPayload
from trayapp.core.link import build_link

TOKEN = "tb_test-token-0123456789abcdef"


def case_body(n: int, event: str = "case.new", status: str = "pending") -> str:
    return json.dumps(
        {
            "event": event,
            "account_id": "acme",
            "data": {"case": {"id": n, "title": f"Case {n}", "channel": "chat", "status": status,
                              "contact": {"name": f"Visitor {n}"}}},
        },
        separators=(",", ":"),
    )


@dataclass
class Seen:
    path: str
    since: int | None
    epoch: str | None
    authorization: str | None
    nonce: str = ""


@dataclass
class FakeBridge:
    epoch: str = "epoch-1"
    token: str = TOKEN
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    frames: list[wire.EventFrame] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    refuse_status: int | None = None  # answer the handshake with this HTTP status
    retained_from: int = 1  # events below this seq are "no longer retained"
    tamper: Callable[[wire.EventFrame], wire.EventFrame] | None = None
    before_hello: Callable[[], str | None] | None = None  # extra raw text sent first (protocol tests)
    connections: list[ServerConnection] = field(default_factory=list)
    server: Server | None = None
    _new: asyncio.Condition | None = None

    @property
    def key_text(self) -> str:
        return wire.key_to_text(self.private_key.public_key())

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def link(self, token: str | None = None) -> str:
        return build_link(self.url, token or self.token, self.key_text)

    async def __aenter__(self) -> FakeBridge:
        self._new = asyncio.Condition()
        self.server = await serve(self._handler, "127.0.0.1", 0, process_request=self._auth, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def _auth(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        params = parse_qs(parts.query)
        since = int(params["since"][0]) if "since" in params else None
        epoch = params["epoch"][0] if "epoch" in params else None
        nonce = params["nonce"][0] if "nonce" in params else ""
        self.seen.append(Seen(request.path, since, epoch, request.headers.get("Authorization"), nonce))
        if self.refuse_status is not None:
            return connection.respond(HTTPStatus(self.refuse_status), "refused\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unknown token\n")
        return None

    def make_frame(self, body: str, event_id: str | None = None) -> wire.EventFrame:
        seq = len(self.frames) + 1
        received_at = f"2026-11-25T08:00:{seq % 60:02d}.000Z"
        event_id = event_id or f"evt-{self.epoch}-{seq}"
        try:
            event = parse_body(body).to_json()
        except BadPayload:  # a genuine, signed body that is no Acquire payload
            event = {}
        return wire.EventFrame(
            epoch=self.epoch,
            seq=seq,
            id=event_id,
            received_at=received_at,
            event=event,
            body=body,
            sig=wire.sign_event(self.private_key, self.epoch, seq, event_id, received_at, body),
        )

    def control(self, message: wire.ControlFrame, nonce: str) -> str:
        return wire.encode(wire.sign_control(self.private_key, message, nonce, self.epoch))

    async def add(self, body: str, event_id: str | None = None) -> wire.EventFrame:
        frame = self.make_frame(body, event_id)
        self.frames.append(frame)
        assert self._new is not None
        async with self._new:
            self._new.notify_all()
        return frame

    def _out(self, frame: wire.EventFrame) -> str:
        return wire.encode(self.tamper(frame) if self.tamper else frame)

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        seen = self.seen[-1]
        if self.before_hello is not None:
            extra = self.before_hello()
            if extra is not None:
                await ws.send(extra)
        head = len(self.frames)
        nonce = seen.nonce
        await ws.send(self.control(wire.Hello(epoch=self.epoch, head=head), nonce))
        since = seen.since
        sent = head
        if since is not None:
            if (seen.epoch is not None and seen.epoch != self.epoch) or since > head:
                await ws.send(self.control(wire.Gap(None, None, "epoch"), nonce))
                since = 0
            start = since + 1
            if start < self.retained_from <= head + 1:
                await ws.send(self.control(wire.Gap(start, self.retained_from - 1, "retention"), nonce))
                start = self.retained_from
            for frame in self.frames[start - 1 : head]:
                await ws.send(self._out(frame))
        await ws.send(self.control(wire.CaughtUp(head=head), nonce))
        assert self._new is not None
        cond = self._new

        async def live() -> None:
            nonlocal sent
            while True:
                async with cond:
                    await cond.wait_for(lambda: len(self.frames) > sent)  # noqa: B023 - read at once
                for frame in self.frames[sent:]:
                    await ws.send(self._out(frame))
                sent = len(self.frames)

        tasks = {asyncio.create_task(live()), asyncio.create_task(ws.wait_closed())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def close_all(self, code: int, reason: str = "") -> None:
        for ws in list(self.connections):
            await ws.close(code, reason)


def tampered(frame: wire.EventFrame) -> wire.EventFrame:
    """The same frame with a body the signature does not cover."""
    return replace(frame, body=frame.body.replace("Case", "Evil"))


def frame_json(frame: wire.EventFrame) -> dict[str, Any]:
    return json.loads(wire.encode(frame))


@contextlib.asynccontextmanager
async def running(fb: FakeBridge, history: History, listener: Any, **cfg: Any) -> AsyncIterator[Connection]:
    """A client :class:`Connection` to ``fb`` (its token and key unless ``token=`` / ``key=`` say otherwise; other
    keywords go to :class:`ConnectionConfig`), running for the duration of the block."""
    config = ConnectionConfig(bridge_url=fb.url, token=cfg.pop("token", fb.token), key=cfg.pop("key", fb.key_text),
                              **cfg)
    async with run_connection(Connection(config, history, listener, delays=quick_delays)) as conn:
        yield conn
