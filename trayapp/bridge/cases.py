"""``GET /v1/cases`` and the ``cases`` frame: the signed snapshot of every open case (``core.cases``).

The store keeps every case's state, folded from its events as they are stored (:meth:`.store.Store.open_cases`).
:class:`CaseSnapshots` turns it into ``{"snapshot": "<JSON text>", "sig": "<base64>"}``: ``snapshot`` is
``{"epoch", "head", "cases": [...]}`` (``core.cases.snapshot_text``: every case that is not closed, oldest
``status_since`` first), ``sig`` the Ed25519 signature of ``trayapp-cases/1`` LF snapshot. A department-scoped
token gets its departments' and the unassigned cases (:mod:`.scope`).

Bounded: a snapshot holds at most ``core.cases.MAX_SNAPSHOT_BYTES`` (~4 MiB as it stands in a frame, so the
``cases`` frame always fits the app's frame limit: ~9,000 typical cases, at least ~550 of the largest possible);
cases past that -- the ones that entered their status last -- are left out and counted in ``"omitted"``. The
snapshot of one head is the same for every caller of one scope, so the last few are kept, signed, and built (in a
worker thread, one at a time: a reconnect storm waits for the one build and shares it) only when the head moved.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from starlette.types import Receive, Scope, Send

from trayapp.core import cases, wire

from .errors import BridgeError
from .ingest import FrameSigner, send_json
from .scope import TokenScope, scope_of
from .store import OpenCases, Store

_KEEP = 8  # signed snapshots kept (one per scope seen at the latest heads)


class CaseSnapshots:
    """Signed snapshots of the store's open cases, per token scope."""

    def __init__(self, store: Store, signer: FrameSigner) -> None:
        self.store = store
        self.signer = signer
        self._open: OpenCases | None = None
        self._signed: OrderedDict[tuple[int, frozenset[str] | None], tuple[str, str]] = OrderedDict()
        self._lock = asyncio.Lock()  # one read and build at a time: a reconnect storm waits for it, then shares it

    async def signed(self, scope: TokenScope | None) -> tuple[str, str]:
        """(snapshot text, sig) of the open cases now, as ``scope`` may see them."""
        head = (await self.store.bounds()).head
        async with self._lock:
            if self._open is None or self._open.head < head:
                self._open = await self.store.open_cases()
            current = self._open
            key = (current.head, scope.departments if scope is not None else None)
            found = self._signed.get(key)
            if found is None:
                found = await asyncio.to_thread(self._build, current, scope)
                self._signed[key] = found
                while len(self._signed) > _KEEP:
                    self._signed.popitem(last=False)
            return found

    def _build(self, current: OpenCases, scope: TokenScope | None) -> tuple[str, str]:
        assert self.signer.key is not None, "signing key not loaded"
        rows = current.cases if scope is None else [c for c in current.cases if scope.allows_department(c.department)]
        text = cases.snapshot_text(self.store.epoch, current.head, rows)
        return text, cases.sign_snapshot(self.signer.key, text)

    async def frame(self, scope: TokenScope | None) -> str:
        """The ``cases`` frame for a stream of ``scope``."""
        text, sig = await self.signed(scope)
        return wire.encode(wire.CasesFrame(text, sig))


class CasesEndpoint:
    """``GET /v1/cases`` (Bearer, the stream's refusals: 401 / 403, 503 when the store cannot be asked)."""

    def __init__(self, snapshots: CaseSnapshots) -> None:
        self.snapshots = snapshots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from .stream import authenticate_http

        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "use GET"}, [(b"allow", b"GET")])
            return
        caller = await authenticate_http(self.snapshots.store, scope, send)
        if caller is None:
            return
        try:
            text, sig = await self.snapshots.signed(scope_of(caller[1].departments))
        except BridgeError as exc:
            await send_json(send, exc.status, {"error": exc.reason}, [(b"retry-after", b"1")])
            return
        body = wire.dumps({"snapshot": text, "sig": sig}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
