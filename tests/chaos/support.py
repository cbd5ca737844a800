"""Helpers of the chaos suite: resuming stream clients, posters that remember what was acknowledged, a TCP proxy
that cuts connections. Everything waits on conditions with deadlines; nothing sleeps blindly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from tests.support.bridges import case_payload, signed


def chaos_seed() -> int:
    seed = int(os.environ.get("TRAYAPP_CHAOS_SEED") or random.randrange(1 << 30))
    print(f"chaos seed: {seed} (TRAYAPP_CHAOS_SEED={seed} repeats this run)")
    return seed


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class ResumingClient:
    """An agent's app in miniature: connects to ``url_of()``, resumes with ``since`` (and ``epoch``) after every
    cut, and records every seq it receives (duplicates and reorderings included, so the test can see them)."""

    def __init__(self, url_of: Callable[[], str], token: str, name: str = "") -> None:
        self.url_of = url_of
        self.token = token
        self.name = name
        self.seqs: list[int] = []
        self.cases: dict[int, int] = {}  # seq -> case number
        self.epoch: str | None = None
        self.connects = 0
        self.stop = False
        self.task: asyncio.Task[None] | None = None

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def start(self) -> ResumingClient:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        while not self.stop:
            query = f"?since={self.last}" + (f"&epoch={self.epoch}" if self.epoch else "")
            try:
                async with websockets.connect(self.url_of() + query, open_timeout=5, max_size=None,
                                              additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
                    self.connects += 1
                    async for message in ws:
                        data = json.loads(message)
                        if data["type"] == "hello":
                            assert self.epoch in (None, data["epoch"]), "the store's epoch changed"
                            self.epoch = data["epoch"]
                        elif data["type"] == "gap":
                            raise AssertionError(f"{self.name}: unexpected gap {data}")
                        elif data["type"] == "event":
                            self.seqs.append(data["seq"])
                            self.cases[data["seq"]] = int(data["event"]["case_id"])
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            if not self.stop:
                await asyncio.sleep(0.02)  # reconnect backoff (the app's is longer)

    async def close(self) -> None:
        self.stop = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Posters:
    """``n`` concurrent webhook senders to ``url_of()``; each delivery is a unique case number. ``acked``: case ->
    seq for every 200; ``unacked``: deliveries that failed (connection lost, 503) -- Acquire would retry them."""

    def __init__(self, url_of: Callable[[], str], n: int = 4) -> None:
        self.url_of = url_of
        self.n = n
        self.acked: dict[int, int] = {}
        self.duplicates = 0
        self.unacked: set[int] = set()
        self.next_case = 1
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._tasks = [asyncio.get_running_loop().create_task(self._worker()) for _ in range(self.n)]

    async def _worker(self) -> None:
        async with httpx.AsyncClient(base_url=self.url_of(), timeout=5) as http:
            while not self._stop.is_set():
                if self.unacked:
                    case = self.unacked.pop()  # a retry, as Acquire does
                else:
                    case = self.next_case
                    self.next_case += 1
                if not await self.deliver(http, case):
                    return  # the bridge is gone: this worker ends (the round restarts it)

    async def deliver(self, http: httpx.AsyncClient, case: int) -> bool:
        body, headers = signed(case_payload(case))
        try:
            resp = await http.post("/webhooks/acquire", content=body, headers=headers)
        except httpx.HTTPError:
            self.unacked.add(case)
            return False
        if resp.status_code != 200:
            assert resp.status_code == 503, resp.text
            self.unacked.add(case)
            return False
        answer: dict[str, Any] = resp.json()
        if case in self.acked:
            assert answer == {"seq": self.acked[case], "duplicate": True}
        self.acked[case] = answer["seq"]
        self.duplicates += answer["duplicate"]
        return True

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def retry_unacked(self) -> None:
        async with httpx.AsyncClient(base_url=self.url_of(), timeout=5) as http:
            while self.unacked:
                assert await self.deliver(http, self.unacked.pop()), "the bridge refused a retry"


class CuttingProxy:
    """A TCP proxy (127.0.0.1, a free port) to ``target``; ``cut()`` aborts one open connection at random."""

    def __init__(self, target: tuple[str, int], rng: random.Random) -> None:
        self.target = target
        self.rng = rng
        self.pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> CuttingProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pipe = (writer, up_writer)
        self.pipes.add(pipe)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self.pipes.discard(pipe)

    def cut(self) -> bool:
        if not self.pipes:
            return False
        down, up = self.rng.choice(sorted(self.pipes, key=id))
        self.pipes.discard((down, up))
        for w in (down, up):
            w.transport.abort()
        self.cuts += 1
        return True

    async def close(self) -> None:
        for down, up in list(self.pipes):
            down.transport.abort()
            up.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
