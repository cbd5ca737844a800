"""``scripts/bench-bridge``: end-to-end numbers of a real bridge process (not part of the product).

Starts ``trayapp-bridge serve --port 0`` in a temporary data dir, then:

1. **ingest throughput** -- ``burst`` signed webhooks posted as fast as ``concurrency`` keep-alive connections
   allow (no stream clients), each one answered 200 only after its commit: durable webhooks/s;
2. connects ``clients`` WebSocket clients (a minimal client on raw asyncio sockets, so the benchmark process is not
   the bottleneck) and records the bridge's RSS when they are idle;
3. **latency** -- posts ``rate`` webhooks/s for ``duration`` seconds; for every event, the time from the POST being
   written to the socket until the frame arrived at *every* client. Prints p50/p99/max of that, plus p50/p99
   over all single deliveries, and the bridge's peak RSS.

Options: ``--redis`` (a scratch ``redis-server`` from PATH, AOF + ``appendfsync always``, in the temp dir) or
``--redis-url URL`` (a Redis you provide: use a scratch one, the bench writes events and a token into it), and
``--processes N`` bridge processes on that Redis (webhook connections and clients spread round-robin over them; RSS
and CPU are summed); ``--catchup N``: after the burst, one client connects with ``since = head - N`` and the time
until its ``caught_up`` is reported (needs ``burst >= N``). ``rss_kib_per_idle_client``: the bridges' RSS growth
from connecting the clients, per client.

Prints one JSON object. No assertions: targets are checked by reading the numbers (``docs/performance.md``).
Tests may import its clients (``WsClient``, ``Deliveries``, ``raise_nofile``); it needs ``psutil`` only off Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trayapp.bridge.ingest import rfc3339_ms
from trayapp.core.signature import hmac_hex

BIN = Path(sys.executable).parent / "trayapp-bridge"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def webhook(secret: str, n: int) -> bytes:
    payload = {
        "event": "case.new", "account_id": "bench", "timestamp": rfc3339_ms(time.time()),
        "data": {"case": {"id": n, "title": "Chat with visitor", "channel": "chat", "status": "pending",
                          "contact": {"id": 9001, "name": f"Visitor {n}", "email": "v@example.com"},
                          "description": "", "waitTime": "0", "users": []}},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    return (b"POST /webhooks/acquire HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"x-acquire-signature: " + hmac_hex(secret, body).encode() +
            b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


class HttpConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConn:
        return cls(*await asyncio.open_connection(host, port))

    async def request(self, raw: bytes) -> tuple[int, bytes, float]:
        sent = time.perf_counter()
        self.writer.write(raw)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        headers = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length), sent

    def close(self) -> None:
        self.writer.close()


class Deliveries:
    """Every (seq, arrival time) of an event frame at any client; summarised after the run."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[int, float]] = []
        self.got = self.arrivals.append

    def summary(self) -> tuple[dict[int, int], dict[int, float], dict[int, list[float]]]:
        count: dict[int, int] = {}
        last: dict[int, float] = {}
        each: dict[int, list[float]] = {}
        for seq, at in self.arrivals:
            count[seq] = count.get(seq, 0) + 1
            last[seq] = max(at, last.get(seq, at))
            each.setdefault(seq, []).append(at)
        return count, last, each


class WsClient(asyncio.Protocol):
    """Just enough WebSocket: the upgrade, unmasked server frames, pongs, and the seq of event frames."""

    def __init__(self, token: str, host: str, port: int, deliveries: Deliveries, since: int | None = None) -> None:
        self.token, self.host, self.port = token, host, port
        self.since = since
        self.deliveries = deliveries
        self.buf = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed_code: int | None = None
        self.caught_up = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /v1/stream{'' if self.since is None else f'?since={self.since}'} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        # fast path: exactly one complete event frame of 126..65535 bytes (the usual case)
        if (not self.buf and len(data) > 30 and data[0] == 0x81 and data[1] == 126
                and len(data) == 4 + (data[2] << 8 | data[3]) and data.startswith(b'{"type":"event","seq":', 4)):
            self.deliveries.got((int(data[26:data.index(b",", 26)]), now))
            return
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.upgraded.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                return
            self.upgraded.set_result(True)
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                start = pos + 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                start = pos + 10
            if len(buf) < start + n:
                break
            payload = buf[start:start + n]
            pos = start + n
            if opcode == 1:
                if payload.startswith(b'{"type":"event","seq":'):
                    self.deliveries.got((int(payload[22:payload.index(b",", 22)]), now))
                elif payload.startswith(b'{"type":"caught_up"') and not self.caught_up.done():
                    self.caught_up.set_result(True)
            elif opcode == 9 and self.transport is not None:  # ping -> masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 8:
                self.closed_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
        self.buf = buf[pos:]


def _floor_reader(port: int, n: int, ready: Any, stop: Any) -> None:
    import selectors
    import socket

    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    sel = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(65536)  # type: ignore[union-attr]


def send_floor_ms(n: int, size: int = 1500) -> float:
    """What the kernel alone charges for one event fan-out on this machine: ``n`` plain ``os.write`` calls of
    ``size`` bytes to loopback TCP sockets whose peers (another process) wait in ``epoll`` like real clients; no
    framework, no WebSocket. The median of 20 rounds, in ms: a lower bound for the bridge's fan-out to ``n``."""
    import multiprocessing
    import socket

    ctx = multiprocessing.get_context("spawn")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(n)
    ready, stop = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_floor_reader, args=(listener.getsockname()[1], n, ready, stop))
    child.start()
    servers = [listener.accept()[0] for _ in range(n)]
    ready.wait(30)
    data = b"x" * size
    rounds = []
    try:
        for _ in range(20):
            started = time.perf_counter()
            for s in servers:
                os.write(s.fileno(), data)
            rounds.append(time.perf_counter() - started)
            time.sleep(0.02)
    finally:
        stop.set()
        child.join(10)
        for s in (*servers, listener):
            s.close()
    rounds.sort()
    return round(rounds[len(rounds) // 2] * 1000, 2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return float(values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))])


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux ``/proc``; psutil elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import psutil

    return round(float(psutil.Process(pid).memory_info().rss) / 2**20, 1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A scratch ``redis-server`` (AOF, ``appendfsync always``: what docs/deploy.md asks for) in ``directory``."""
    import socket

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile",
                             str(directory / "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


async def _bench(clients: int, rate: float, duration: float, burst: int, concurrency: int,
                 redis_url: str | None = None, start_redis: bool = False, processes: int = 1,
                 catchup: int = 0, fanout: str = "fast_send") -> dict[str, Any]:
    nofile = raise_nofile()
    data_dir = Path(tempfile.mkdtemp(prefix="trayapp-bench-"))
    secret = "whsec_" + secrets.token_hex(16)
    env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": secret}
    env.pop("TRAYAPP_REDIS_URL", None)
    redis_proc: subprocess.Popen[bytes] | None = None
    if start_redis:
        redis_proc, redis_url = _start_redis(data_dir)
    if processes > 1 and not redis_url:
        raise ValueError("--processes > 1 needs a shared store: --redis or --redis-url")
    store_args = ["--redis-url", redis_url] if redis_url else []
    # every simulated client uses the one bench token: lift the per-token socket limit
    serve = [str(BIN)] if fanout == "fast_send" else [sys.executable, "-m", "benchmarks.fanout_broadcast"]
    procs = [subprocess.Popen([*serve, "serve", "--port", "0", "--data-dir", str(data_dir / f"p{i}"),
                               "--max-sockets-per-token", "0", *store_args],
                              stdout=subprocess.PIPE, env=env, text=True) for i in range(processes)]
    pids = [p.pid for p in procs]
    try:
        addrs: list[tuple[str, int]] = []
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            if not line.startswith("trayapp-bridge listening on http://"):
                raise RuntimeError(f"bridge did not start: {line!r}")
            h, port_text = line.strip().rsplit("/", 1)[1].rsplit(":", 1)
            addrs.append((h, int(port_text)))
        host, port = addrs[0]
        token = json.loads(subprocess.run([str(BIN), "token", "add", "bench", "--json", "--data-dir",
                                           str(data_dir / "p0"), *store_args],
                                          capture_output=True, text=True, check=True, env=env).stdout)["token"]
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "cpu": _cpu_model()},
            "params": {"clients": clients, "rate": rate, "duration": duration, "burst": burst,
                       "concurrency": concurrency, "nofile": nofile, "store": "redis" if redis_url else "sqlite",
                       "processes": processes, "fanout": fanout},
            "rss_mib_start": rss_mib_all(pids),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        }
        if clients:
            result["kernel_floor_ms_per_event_fanout"] = send_floor_ms(clients)
        # 1. durable ingest throughput
        if burst:
            requests = [webhook(secret, 1_000_000 + i) for i in range(burst)]
            conns = [await HttpConn.open(*addrs[i % processes]) for i in range(concurrency)]
            statuses: list[int] = []
            it = iter(requests)

            async def worker(conn: HttpConn) -> None:
                for raw in it:
                    statuses.append((await conn.request(raw))[0])

            cpu0, own0, sys0 = _cpu_all(pids), time.process_time(), _cpu_all(pids, "system")
            started = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in conns))
            elapsed = time.perf_counter() - started
            cpu, own = _cpu_all(pids) - cpu0, time.process_time() - own0
            system = _cpu_all(pids, "system") - sys0
            for c in conns:
                c.close()
            result["ingest"] = {"webhooks": burst, "seconds": round(elapsed, 3),
                                "accepted_per_s": round(statuses.count(200) / elapsed),
                                "non_200": len(statuses) - statuses.count(200),
                                "bridge_cpu_percent": round(100 * cpu / elapsed),
                                "bridge_cpu_us_per_webhook": round(1e6 * cpu / burst),
                                "bridge_kernel_us_per_webhook": round(1e6 * system / burst),
                                "bench_cpu_percent": round(100 * own / elapsed)}
        loop = asyncio.get_running_loop()
        # 1b. catch-up: one client that missed the last `catchup` events
        if catchup:
            missed = Deliveries()
            head = burst  # the burst stored 1..burst
            since = max(0, head - catchup)
            started = time.perf_counter()
            _, late = await loop.create_connection(lambda: WsClient(token, host, port, missed, since), host, port)
            await late.caught_up
            took = time.perf_counter() - started
            got = [seq for seq, _ in missed.arrivals]
            result["catchup"] = {"events": len(got), "seconds": round(took, 3),
                                 "complete": got == list(range(since + 1, head + 1))}
            if late.transport is not None:
                late.transport.close()
        # 2. clients
        deliveries = Deliveries()
        rss_before_clients = rss_mib_all(pids)
        protos: list[WsClient] = []
        started = time.perf_counter()
        for i in range(0, clients, 100):
            def client_of(a: tuple[str, int]) -> Callable[[], WsClient]:
                return lambda: WsClient(token, a[0], a[1], deliveries)

            batch = await asyncio.gather(*(
                loop.create_connection(client_of(addrs[(i + j) % processes]), *addrs[(i + j) % processes])
                for j in range(min(100, clients - i))
            ))
            protos.extend(p for _, p in batch)
            await asyncio.gather(*(p.upgraded for p in protos[-len(batch):]))
        await asyncio.gather(*(p.caught_up for p in protos))
        result["connect_seconds"] = round(time.perf_counter() - started, 2)
        result["rss_mib_idle_clients"] = rss_mib_all(pids)
        if clients:
            result["rss_kib_per_idle_client"] = round(
                (result["rss_mib_idle_clients"] - rss_before_clients) * 1024 / clients, 1)
        # 3. latency at a steady rate
        conns = [await HttpConn.open(*addrs[i % processes]) for i in range(8)]
        free = asyncio.Queue[HttpConn]()
        for c in conns:
            free.put_nowait(c)
        sent_at: dict[int, float] = {}
        answered: list[float] = []
        tasks = []
        total = int(rate * duration)
        peak_rss = 0.0

        async def one(raw: bytes) -> None:
            conn = await free.get()
            status, body, sent = await conn.request(raw)
            answered.append(time.perf_counter() - sent)
            free.put_nowait(conn)
            if status == 200:
                sent_at[json.loads(body)["seq"]] = sent

        bridge_cpu0 = _cpu_all(pids)
        bench_cpu0 = time.process_time()
        begin = time.perf_counter()
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(webhook(secret, 2_000_000 + i))))
            if i % max(1, int(rate)) == 0:
                peak_rss = max(peak_rss, rss_mib_all(pids))
        await asyncio.gather(*tasks)
        bridge_cpu = _cpu_all(pids) - bridge_cpu0
        bench_cpu = time.process_time() - bench_cpu0
        phase = time.perf_counter() - begin
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and len(deliveries.arrivals) < len(sent_at) * clients:
            await asyncio.sleep(0.05)
        count, last, each_at = deliveries.summary()
        all_clients = [last[s] - t for s, t in sent_at.items() if count.get(s, 0) >= clients]
        each = [at - sent_at[s] for s in sent_at for at in each_at.get(s, [])]
        missing = sum(clients - count.get(s, 0) for s in sent_at)
        result["latency"] = {
            "events": len(sent_at),
            "achieved_rate": round(len(sent_at) / (time.perf_counter() - begin), 1),
            "every_client_ms": {"p50": _ms(percentile(all_clients, 50)), "p99": _ms(percentile(all_clients, 99)),
                                "max": _ms(max(all_clients, default=float("nan")))},
            "each_delivery_ms": {"p50": _ms(percentile(each, 50)), "p99": _ms(percentile(each, 99))},
            "post_answer_ms": {"p50": _ms(percentile(answered, 50)), "p99": _ms(percentile(answered, 99))},
            "missing_deliveries": missing,
            "bridge_cpu_percent": round(100 * bridge_cpu / phase) if phase else 0,
            "bench_cpu_percent": round(100 * bench_cpu / phase) if phase else 0,
            "closed_clients": sum(1 for p in protos if p.closed_code is not None),
        }
        result["rss_mib_peak"] = max(peak_rss, rss_mib_all(pids))
        result["bridge_fanout_ms_mean"] = [await _metric_mean_ms(*a, "trayapp_bridge_fanout_seconds") for a in addrs]
        result["bridge_ingest_ms_mean"] = [await _metric_mean_ms(*a, "trayapp_bridge_ingest_seconds") for a in addrs]
        result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        for c in conns:
            c.close()
        for client in protos:
            if client.transport is not None:
                client.transport.close()
        return result
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
            if p.stdout is not None:
                p.stdout.close()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(15)
        shutil.rmtree(data_dir, ignore_errors=True)


def rss_mib_all(pids: list[int]) -> float:
    return round(sum(rss_mib(pid) for pid in pids), 1)


def _cpu_all(pids: list[int], part: str = "") -> float:
    return sum(_cpu_seconds(pid, part) for pid in pids)


def _cpu_seconds(pid: int, part: str = "") -> float:
    """CPU seconds of a process: user + system, or only ``part`` ("user" / "system")."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        return {"user": user, "system": system}.get(part, user + system)
    except (OSError, ValueError, IndexError):
        import psutil

        t = psutil.Process(pid).cpu_times()
        return float(getattr(t, part)) if part else float(t.user + t.system)


async def _metric_mean_ms(host: str, port: int, name: str) -> float:
    """Mean of a histogram of the bridge (from its /metrics), in ms."""
    conn = await HttpConn.open(host, port)
    try:
        _, body, _ = await conn.request(f"GET /metrics HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    finally:
        conn.close()
    values = {}
    for line in body.decode().splitlines():
        if line.startswith((f"{name}_sum", f"{name}_count")):
            metric, value = line.split()
            values[metric.rsplit("_", 1)[1]] = float(value)
    return _ms(values["sum"] / values["count"]) if values.get("count") else float("nan")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_bench(clients: int = 1000, rate: float = 50.0, duration: float = 20.0, burst: int = 4000,
              concurrency: int = 128, redis_url: str | None = None, start_redis: bool = False,
              processes: int = 1, catchup: int = 0, fanout: str = "fast_send") -> int:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(_bench(clients, rate, duration, burst, concurrency, redis_url, start_redis, processes, catchup,
                           fanout=fanout))
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench-bridge",
                                description="end-to-end benchmark against a fresh trayapp-bridge process")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rate", type=float, default=50.0, help="webhooks per second in the latency phase")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of the latency phase")
    p.add_argument("--burst", type=int, default=4000, help="webhooks posted as fast as possible (throughput)")
    p.add_argument("--concurrency", type=int, default=128, help="parallel POST connections in the burst")
    p.add_argument("--redis", action="store_true", help="run the bridges on a scratch redis-server (from PATH)")
    p.add_argument("--redis-url", help="run the bridges on this (scratch!) Redis")
    p.add_argument("--processes", type=int, default=1, help="bridge processes (Redis only)")
    p.add_argument("--catchup", type=int, default=0, help="time one client catching up N missed events")
    p.add_argument("--fanout", choices=("fast_send", "broadcast"), default="fast_send",
                   help="the bridge's fan-out: its own (frames encoded once) or websockets' broadcast() (measuring)")
    args = p.parse_args(argv)
    return run_bench(clients=args.clients, rate=args.rate, duration=args.duration, burst=args.burst,
                     concurrency=args.concurrency, redis_url=args.redis_url, start_redis=args.redis,
                     processes=args.processes, catchup=args.catchup, fanout=args.fanout)


if __name__ == "__main__":
    sys.exit(main())
