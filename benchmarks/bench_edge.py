"""The bridge's edge under attack, measured on a real ``trayapp-bridge serve`` (numbers for docs/security.md).

    .venv/bin/python benchmarks/bench_edge.py [--forgeries 40] [--attackers 32] [--seconds 10]

1. **CPU per forged webhook**, for the most expensive bodies we know (1 MiB; 64 KiB with 1,000 long floats,
   digit keys, nested arrays, escapes): the bridge's own CPU time (``/proc``, via psutil) over N forgeries posted
   one after the other, divided by N. The bad-signature limit is off (``--bad-signature-burst 0``), so every
   forgery is read and verified: this is the cost the limiter bounds.
2. **Legitimate latency under attack**: signed webhooks from 127.0.0.1, one at a time, while ``--attackers``
   connections from other addresses post 1 MiB forgeries as fast as they can (limiter on, default settings).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from trayapp.core.signature import hmac_hex

BIN = Path(sys.executable).parent / "trayapp-bridge"
SECRET = "whsec_" + "b" * 40


def _forgeries() -> dict[str, bytes]:
    def pretty(value: Any) -> bytes:
        return json.dumps(value, indent=1).encode()

    n = 990
    mib = 1 << 20
    return {
        "1 MiB string": pretty({"event": "case.new", "pad": "x" * mib})[: mib - 10] + b'"}',
        "1 MiB of floats": b"[" + b",".join([b"1.5"] * (mib // 4 - 1)) + b"]",
        "1 MiB of nested arrays": b"[" + b",".join([b"[[1.5]]"] * (mib // 8 - 1)) + b"]",
        "64 KiB, 1,000 long floats": pretty({"a": [1.2345678901234567e-300] * n}),
        "64 KiB, 500 digit keys": pretty({str(i): 1.5 for i in range(n // 2)}),
        "64 KiB, nested arrays": pretty({"a": [[[1.5]]] * (n // 4)}),
        "64 KiB, escapes": b'{"a": "' + b"\\ud800" * n + b'"}',
        "64 KiB, just over the bounds": pretty({"a": [1.5] * 1100}),
    }


def _start(data: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen([str(BIN), "serve", "--port", "0", "--data-dir", str(data), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    assert match, line
    return proc, match.group(1)


def _signed(n: int) -> tuple[bytes, dict[str, str]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps({"event": "case.new", "account_id": "bench", "timestamp": stamp,
                       "data": {"case": {"id": n, "title": f"Case {n}", "status": "pending"}}}).encode()
    return body, {"content-type": "application/json", "x-acquire-signature": hmac_hex(SECRET, body)}


async def forgery_cpu(url: str, pid: int, count: int) -> dict[str, float]:
    bridge = psutil.Process(pid)
    out = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for name, body in _forgeries().items():
            headers = {"content-type": "application/json", "x-acquire-signature": "0" * 64}
            for _ in range(3):  # warm up
                await http.post("/webhooks/acquire", content=body, headers=headers)
            before = sum(bridge.cpu_times()[:2])
            for _ in range(count):
                answer = await http.post("/webhooks/acquire", content=body, headers=headers)
                assert answer.status_code == 401, answer.text
            out[name] = round((sum(bridge.cpu_times()[:2]) - before) / count * 1000, 2)
    return out


async def latency_under_attack(url: str, attackers: int, seconds: float) -> dict[str, Any]:
    body = json.dumps({"event": "case.new", "pad": "x" * 1_000_000}, indent=1).encode()
    stop = asyncio.Event()
    answers: dict[int, int] = {}

    async def attacker(i: int) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{2 + i // 200}.{1 + i % 200}")
        async with httpx.AsyncClient(base_url=url, timeout=60, transport=transport) as http:
            while not stop.is_set():
                try:
                    r = await http.post("/webhooks/acquire", content=body,
                                        headers={"x-acquire-signature": f"{i:064x}"})
                    answers[r.status_code] = answers.get(r.status_code, 0) + 1
                except httpx.HTTPError:
                    answers[0] = answers.get(0, 0) + 1

    async def legit(n: int) -> list[float]:
        times = []
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for i in range(n):
                body, headers = _signed(i)
                started = time.perf_counter()
                r = await http.post("/webhooks/acquire", content=body, headers=headers)
                assert r.status_code == 200, r.text
                times.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)
        return times

    quiet = await legit(40)
    tasks = [asyncio.create_task(attacker(i)) for i in range(attackers)]
    await asyncio.sleep(1)
    deadline = time.monotonic() + seconds
    attacked: list[float] = []
    while time.monotonic() < deadline:
        attacked += await legit(10)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"quiet_ms": _summary(quiet), "under_attack_ms": _summary(attacked), "attacker_answers": answers}


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1), "p99": round(ordered[int(len(ordered) * 0.99) - 1], 1),
            "max": round(ordered[-1], 1), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forgeries", type=int, default=40)
    parser.add_argument("--attackers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-only", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start(Path(tmp) / "a", "--bad-signature-burst", "0" if not args.latency_only else "20")
        try:
            if not args.latency_only:
                result["forgery_cpu_ms"] = asyncio.run(forgery_cpu(url, proc.pid, args.forgeries))
        finally:
            proc.terminate()
            proc.wait()
        proc, url = _start(Path(tmp) / "b")
        try:
            result["latency"] = asyncio.run(latency_under_attack(url, args.attackers, args.seconds))
        finally:
            proc.terminate()
            proc.wait()
    result["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
