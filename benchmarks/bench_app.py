#!/usr/bin/env python3
"""Benchmark of the desktop app (issue 3, "Measure"): prints one JSON object on stdout, progress on stderr.

Run it through ``scripts/bench-app`` (a real desktop session: Xvfb, D-Bus, dunst, xfce4-panel as the tray host,
gnome-keyring) or ``scripts/bench-app --offscreen`` (no tray, no notification daemon: reported as such).

What it measures, against a real ``trayapp-bridge serve`` process on 127.0.0.1:

1. **start-up**: the real ``trayapp`` command (tray mode, temporary ``TRAYAPP_CONFIG_DIR`` / ``TRAYAPP_DATA_DIR``
   / ``TRAYAPP_LOG_DIR``, token in the session's gnome-keyring — or, offscreen, ``benchmarks.envkeyring``) from
   ``Popen`` to: its first log line (``main()`` reached), the ``tray visible`` log line, the icon registered with
   ``org.kde.StatusNotifierWatcher`` (what the panel shows; polled over D-Bus by this process), the client
   ``connected``. ``--runs`` runs (default 5), median reported.
2. **RSS** (``VmRSS`` of ``/proc/PID/status``) once the started app has gone quiet (no CPU time for 1 s): empty
   history, and with ``--history`` events (default 100,000) pre-filled with ``History.add`` into its data dir.
3. **idle**: the connected app with nothing happening for ``--idle`` s (default 20): CPU seconds
   (``utime+stime`` of ``/proc/PID/stat``, and the per-thread ``schedstat`` run time in ns) and wake-ups (voluntary +
   involuntary context switches summed over ``/proc/PID/task/*/status``, per thread).
4. **latency**, in this process: ``ClientService`` + ``TrayApp`` (the session's real notifier wrapped by a recorder
   that timestamps each ``show``), settings with bursts, re-alerts, catch-up summary and sound off, so every event
   pops; ``--events`` signed webhooks (default 100, ``--spacing`` 0.1 s apart) posted by a separate process. Per
   event: webhook POST → ``notifier.show``; frame received by the client (entry of ``core.wire.verify_frame``,
   wrapped here, not in product code) → ``show``; ``event_received`` emitted (verified + stored; a direct-connected
   slot) → ``show``.

No product code is changed to measure; the app only logs ``tray visible`` when it shows the tray.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIXTURE = ROOT / "tests" / "fixtures" / "acquire" / "v2-case-new.json"
READY = re.compile(r"^trayapp-bridge listening on (https?://\S+)$")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (\S+) (\S+): (.*)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(*args: Any) -> None:
    print("bench-app:", *args, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def summary_ms(values_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(pct(ms, 0.5) or 0, 2), "p99_ms": round(pct(ms, 0.99) or 0, 2),
            "max_ms": round(max(ms), 2), "min_ms": round(min(ms), 2)}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# --- the bridge ---------------------------------------------------------------------------------


class Bridge:
    """A real ``trayapp-bridge serve --port 0`` in ``data`` with one token."""

    def __init__(self, data: Path) -> None:
        self.sample = json.loads(FIXTURE.read_text(encoding="utf-8"))
        self.secret = self.sample["secret"]
        env = {**os.environ, "ACQUIRE_WEBHOOK_SECRET": self.secret}
        self.proc = subprocess.Popen([str(BIN / "trayapp-bridge"), "serve", "--port", "0", "--data-dir", str(data)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln.strip()) for ln in self.proc.stdout or []],
                         daemon=True).start()
        match = READY.match(lines.get(timeout=60))
        if not match:
            raise SystemExit("bench-app: the bridge did not announce its address")
        self.url = match.group(1)
        out = subprocess.run([str(BIN / "trayapp-bridge"), "token", "add", "bench", "--data-dir", str(data),
                              "--url", self.url, "--json"], capture_output=True, text=True, check=True, env=env,
                             timeout=60)
        info = json.loads(out.stdout)
        self.token, self.key, self.link = info["token"], info["key"], info["link"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def case_body(template: str, case_id: int) -> str:
    payload = json.loads(template)
    case = payload["data"]["case"]
    case["id"] = case["threadId"] = case_id
    case["contact"]["name"] = f"Visitor {case_id}"
    payload["timestamp"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(payload, separators=(",", ":"))


def poster_main(url: str, secret: str, first_case: int, count: int, spacing: float) -> int:
    """Child process: post ``count`` signed webhooks, one JSON line per webhook (CLOCK_MONOTONIC is system-wide)."""
    from trayapp.bridge.simulator import post

    template = json.loads(FIXTURE.read_text(encoding="utf-8"))["body"]
    for i in range(count):
        case_id = first_case + i
        payload = json.loads(case_body(template, case_id))
        t = time.monotonic()
        status, _answer = post(url, secret, payload)
        print(json.dumps({"case": str(case_id), "t": t, "t_done": time.monotonic(), "status": status}), flush=True)
        time.sleep(spacing)
    return 0


# --- /proc --------------------------------------------------------------------------------------


def status_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
            out[key] = int(value.split()[0])
    try:  # proportional set size: shared library pages divided among the processes that map them
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def threads(pid: int) -> dict[int, dict[str, Any]]:
    """Per thread: name, run time (ns, schedstat), voluntary and involuntary context switches."""
    out: dict[int, dict[str, Any]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            run_ns = int((task / "schedstat").read_text().split()[0])
            vol = invol = 0
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    vol = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(task.name)] = {"name": comm, "run_ns": run_ns, "vol": vol, "invol": invol}
    return out


def wait_quiet(pid: int, quiet_s: float = 1.0, limit_s: float = 60.0) -> float:
    """Wait until the process used no CPU (schedstat, ns) for ``quiet_s``; returns when it went quiet (monotonic)."""
    start = time.monotonic()
    last = sum(t["run_ns"] for t in threads(pid).values())
    last_change = time.monotonic()
    while time.monotonic() - start < limit_s:
        time.sleep(0.05)
        now_ns = sum(t["run_ns"] for t in threads(pid).values())
        # a few hundred µs per second is the idle floor (keepalive, Qt's own timers): not "busy"
        if now_ns - last > 2_000_000:
            last_change = time.monotonic()
        last = now_ns
        if time.monotonic() - last_change >= quiet_s:
            return last_change
    return last_change


def idle_window(pid: int, seconds: float) -> dict[str, Any]:
    t0, ticks0, th0 = time.monotonic(), cpu_ticks(pid), threads(pid)
    time.sleep(seconds)
    t1, ticks1, th1 = time.monotonic(), cpu_ticks(pid), threads(pid)
    wall = t1 - t0
    per_thread = []
    wakeups = 0
    run_ns = 0
    for tid, after in th1.items():
        before = th0.get(tid, {"vol": 0, "invol": 0, "run_ns": 0})
        d_vol, d_invol = after["vol"] - before["vol"], after["invol"] - before["invol"]
        d_run = after["run_ns"] - before["run_ns"]
        wakeups += d_vol + d_invol
        run_ns += d_run
        if d_vol or d_invol or d_run:
            per_thread.append({"thread": after["name"], "ctxt_switches": d_vol + d_invol,
                               "cpu_ms": round(d_run / 1e6, 2)})
    cpu_s = (ticks1 - ticks0) / CLK_TCK
    return {
        "window_s": round(wall, 1),
        "cpu_s_utime_stime": cpu_s,
        "cpu_percent_utime_stime": round(100 * cpu_s / wall, 3),
        "cpu_s_schedstat": round(run_ns / 1e9, 4),
        "cpu_percent_schedstat": round(100 * run_ns / 1e9 / wall, 4),
        "wakeups": wakeups,
        "wakeups_per_s": round(wakeups / wall, 2),
        "threads": sorted(per_thread, key=lambda t: -t["ctxt_switches"]),
        "threads_total": len(th1),
    }


# --- D-Bus: the tray host's view --------------------------------------------------------------


class Watcher:
    """``org.kde.StatusNotifierWatcher.RegisteredStatusNotifierItems`` (the items the panel shows)."""

    def __init__(self) -> None:
        from jeepney import DBusAddress
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus="SESSION")
        self.addr = DBusAddress("/StatusNotifierWatcher", bus_name="org.kde.StatusNotifierWatcher",
                                interface="org.kde.StatusNotifierWatcher")

    def items(self) -> list[str]:
        from jeepney import Properties

        reply = self.conn.send_and_get_reply(Properties(self.addr).get("RegisteredStatusNotifierItems"), timeout=5)
        return list(reply.body[0][1])

    def close(self) -> None:
        self.conn.close()


def open_watcher() -> Watcher | None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    try:
        watcher = Watcher()
        watcher.items()
        return watcher
    except Exception as exc:  # no watcher on this bus: no tray host
        say(f"no StatusNotifierWatcher on the session bus ({type(exc).__name__}: {exc})")
        return None


# --- the real app process -------------------------------------------------------------------------


def log_events(path: Path) -> list[tuple[float, str]]:
    """``(wall time, message)`` of each line of the app's log file."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if m:
            wall = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((wall, m.group(5)))
    return out


def first(events: list[tuple[float, str]], pattern: str) -> float | None:
    rx = re.compile(pattern)
    return next((t for t, msg in events if rx.search(msg)), None)


class AppRun:
    """One ``trayapp`` process with its own data and log dir (the config dir is shared: same settings)."""

    def __init__(self, base: Path, env: dict[str, str], watcher: Watcher | None, data: Path) -> None:
        self.log_dir = base / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.watcher = watcher
        self.baseline = len(watcher.items()) if watcher else 0
        env = {**env, "TRAYAPP_DATA_DIR": str(data), "TRAYAPP_LOG_DIR": str(self.log_dir)}
        self.stderr = open(base / "stderr.txt", "w")  # noqa: SIM115 - closed in stop()
        self.t0_wall = time.time()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([str(BIN / "trayapp")], env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        sni_at: float | None = None
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench-app: trayapp exited with {self.proc.returncode}; see {self.stderr.name}")
            if self.watcher is not None and sni_at is None and len(self.watcher.items()) > self.baseline:
                sni_at = time.monotonic() - self.t0
            events = log_events(self.log_dir / "trayapp.log")
            shown = first(events, r"^(tray visible|no tray: list window shown)$")
            connected = first(events, r"^connection: connected")
            if shown and connected and (self.watcher is None or sni_at is not None):
                return {
                    "main_s": rel(first(events, r"starting \(tray\)"), self.t0_wall),
                    "tray_visible_log_s": rel(first(events, r"^tray visible$"), self.t0_wall),
                    "window_shown_log_s": rel(first(events, r"^no tray: list window shown$"), self.t0_wall),
                    "sni_registered_s": None if sni_at is None else round(sni_at, 3),
                    "connected_s": rel(connected, self.t0_wall),
                    "tray": "available" if first(events, r"system tray available") else "missing",
                    "notifier": next((m.split()[2].rstrip(";") for _, m in events
                                      if m.startswith("notifications via")), None),
                }
            time.sleep(0.01)
        raise SystemExit(f"bench-app: trayapp not ready after {timeout} s; see {self.log_dir}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        if self.watcher is not None:  # the item leaves the panel before the next run
            end = time.monotonic() + 10
            while time.monotonic() < end and len(self.watcher.items()) > self.baseline:
                time.sleep(0.05)


def rel(wall: float | None, t0_wall: float) -> float | None:
    # log times have millisecond resolution
    return None if wall is None else round(wall - t0_wall, 3)


def prefill(path: Path, count: int) -> float:
    """``count`` events over the last days (inside the 30-day retention) into a history file, all read."""
    from trayapp.client.history import History
    from trayapp.core.event import Event, ReceivedEvent

    template = json.loads(FIXTURE.read_text(encoding="utf-8"))["body"]
    start = time.monotonic()
    now = time.time()
    statuses = ("pending", "queue", "active", "closed")
    with History(path) as history:
        for i in range(count):
            case_id = 100_000 + i // 3
            received_at = datetime.fromtimestamp(now - (count - i) * 4, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
            if i % 3 == 0:
                event = Event("case.new", "case.new", "pending", str(case_id), "Chat with visitor",
                              f"Visitor {case_id}", "chat", None, "acme")
            else:
                status = statuses[i % 4]
                event = Event("chat.status", f"chat.{status}", status, str(case_id), "Chat with visitor",
                              f"Visitor {case_id}", "chat", "Agent Smith" if status == "active" else None, "acme",
                              None, "42" if status == "active" else None, "Support")
            body = case_body(template, case_id)
            history.add(ReceivedEvent(i + 1, f"bench-{i}", received_at, body, event), "bench-epoch")
        history.mark_all_read()
    return time.monotonic() - start


def spawn_and_measure(base: Path, env: dict[str, str], watcher: Watcher | None, data: Path,
                      idle_s: float = 0.0) -> dict[str, Any]:
    run = AppRun(base, env, watcher, data)
    try:
        result = run.wait_ready()
        quiet_at = wait_quiet(run.pid)
        result["quiet_s"] = round(quiet_at - run.t0, 3)
        result["rss"] = status_kib(run.pid)
        if idle_s:
            result["idle"] = idle_window(run.pid, idle_s)
            result["rss_after_idle"] = status_kib(run.pid)
        return result
    finally:
        run.stop()


# --- latency, in this process -----------------------------------------------------------------------


def latency(bridge: Bridge, base: Path, count: int, spacing: float) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    import trayapp.core.wire as wire
    from trayapp.model.connection import ConnectionState
    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService
    from trayapp.ui.notify.base import Notification

    qapp = QApplication.instance() or QApplication(["trayapp-bench"])
    qapp.setQuitOnLastWindowClosed(False)

    frames: dict[str, float] = {}  # event id -> frame received (verify_frame entry)
    stored: dict[str, tuple[float, str]] = {}  # event id -> (event_received emitted, case id)
    shows: dict[str, tuple[float, float]] = {}  # event id -> (show called, show returned)
    original = wire.verify_frame

    def timed_verify(key: Any, frame: Any) -> Any:
        t = time.monotonic()
        received = original(key, frame)
        frames.setdefault(received.id, t)
        return received

    wire.verify_frame = timed_verify  # type: ignore[assignment]

    settings = Settings(bridge_url=bridge.url, key=bridge.key, account_id="acme", burst_size=1_000_000,
                        realert_max=0, catch_up_summary=False, sound_enabled=False)
    token = bridge.token
    client = ClientService(settings, data_dir=base / "data", token_loader=lambda _url: token)

    def on_event(row: Any, _replaying: bool) -> None:  # runs in the client's thread, at emit
        stored.setdefault(row.event.id, (time.monotonic(), row.event.event.case_id or ""))

    client.event_received.connect(on_event, Qt.ConnectionType.DirectConnection)
    app = TrayApp(client, settings, save_settings=lambda _s: None)
    inner = app.notifier

    def record_show(notification: Notification) -> None:
        t = time.monotonic()
        inner.show(notification)
        shows.setdefault(notification.target, (t, time.monotonic()))

    app.presenter.notify.disconnect(inner.show)
    app.presenter.notify.connect(record_show)

    def run_until(cond: Any, timeout: float) -> bool:
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(20)
        end = time.monotonic() + timeout

        def check() -> None:
            if cond() or time.monotonic() > end:
                loop.quit()

        timer.timeout.connect(check)
        timer.start()
        loop.exec()
        timer.stop()
        return bool(cond())

    poster = None
    try:
        app.start()
        if not run_until(lambda: client.status.state is ConnectionState.CONNECTED, 30):
            raise SystemExit(f"bench-app: in-process client did not connect: {client.status}")
        run_until(lambda: False, 1.0)  # settle
        load = loadavg()
        poster = subprocess.Popen([sys.executable, __file__, "--_post", bridge.url, bridge.secret, "900000",
                                   str(count), str(spacing)], stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(poster.stdout or []), daemon=True)
        reader.start()
        run_until(lambda: len(shows) >= count and poster.poll() is not None, count * spacing + 60)
        poster.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        app.quit()
        wire.verify_frame = original  # type: ignore[assignment]
        if poster is not None and poster.poll() is None:
            poster.kill()

    posts = {p["case"]: p for p in map(json.loads, lines)}
    by_case = {case: eid for eid, (_, case) in stored.items()}
    post_to_show, frame_to_show, stored_to_show, post_to_frame, show_call = [], [], [], [], []
    for case, post in posts.items():
        eid = by_case.get(case)
        if eid is None or eid not in shows:
            continue
        t_show, t_return = shows[eid]
        post_to_show.append(t_show - post["t"])
        post_to_frame.append(frames[eid] - post["t"])
        frame_to_show.append(t_show - frames[eid])
        stored_to_show.append(t_show - stored[eid][0])
        show_call.append(t_return - t_show)
    return {
        "events_posted": len(posts),
        "posts_not_2xx": sum(1 for p in posts.values() if not 200 <= p["status"] < 300),
        "events_stored": len(stored),
        "notifications_shown": len(shows),
        "notifier": inner.name,
        "spacing_s": spacing,
        "loadavg_before": load,
        "webhook_post_to_show": summary_ms(post_to_show),
        "webhook_post_to_frame_received": summary_ms(post_to_frame),
        "frame_received_to_show": summary_ms(frame_to_show),
        "event_received_emitted_to_show": summary_ms(stored_to_show),
        "notifier_show_call_duration": summary_ms(show_call),
    }


def load_main(data: str, count: int, url: str, key: str, token: str) -> int:
    """Child process: the app as ``run_tray`` builds it, on a pre-filled data dir; prints when its list model knows
    the whole history (``model.total``: ``count`` rows, of which the model holds the newest window in memory and
    pages in older ones on demand) and the process's RSS then (the spawned ``trayapp`` cannot be asked)."""
    t0 = time.monotonic()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService

    qapp = QApplication(["trayapp-bench"])
    qapp.setQuitOnLastWindowClosed(False)
    settings = Settings(bridge_url=url, key=key, account_id="acme")
    client = ClientService(settings, data_dir=Path(data), token_loader=lambda _url: token)
    app = TrayApp(client, settings, save_settings=lambda _s: None)
    out: dict[str, Any] = {}

    def check() -> None:
        if app.model.total >= count and "loaded_s" not in out:
            out["loaded_s"] = round(time.monotonic() - t0, 3)
            out["rss_at_load"] = status_kib(os.getpid())
            QTimer.singleShot(1500, finish)

    def finish() -> None:
        out["model_rows"] = app.model.total
        out["rss_1_5_s_later"] = status_kib(os.getpid())
        app.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(20)
    QTimer.singleShot(120_000, app.quit)
    app.start()
    qapp.exec()
    print(json.dumps(out), flush=True)
    return 0


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "--_post":
        url, secret, first_case, count, spacing = args_list[1:6]
        return poster_main(url, secret, int(first_case), int(count), float(spacing))
    if args_list and args_list[0] == "--_load":
        data, count, url, key = args_list[1:5]
        return load_main(data, int(count), url, key, os.environ.get("TRAYAPP_BENCH_TOKEN", ""))
    parser = argparse.ArgumentParser(prog="bench-app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--offscreen", action="store_true", help="QT_QPA_PLATFORM=offscreen: no tray, no popups")
    parser.add_argument("--runs", type=int, default=5, help="start-up runs with an empty history (default 5)")
    parser.add_argument("--history", type=int, default=100_000, help="events pre-filled for the RSS run")
    parser.add_argument("--history-runs", type=int, default=2, help="start-ups with the pre-filled history")
    parser.add_argument("--idle", type=float, default=20.0, help="idle window in seconds (default 20)")
    parser.add_argument("--events", type=int, default=100, help="webhooks for the latency part (default 100)")
    parser.add_argument("--spacing", type=float, default=0.1, help="seconds between them (default 0.1)")
    parser.add_argument("--skip", action="append", default=[], choices=["startup", "history", "latency"])
    args = parser.parse_args(args_list)

    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    result: dict[str, Any] = {
        "bench": "trayapp desktop app",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": os.environ["QT_QPA_PLATFORM"],
        "loadavg_start": loadavg(),
        "cpus": os.cpu_count(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    bridge = Bridge(tmp / "bridge")
    watcher = None if args.offscreen else open_watcher()
    result["tray_host"] = "StatusNotifierWatcher on the session bus" if watcher else "no tray"
    try:
        import trayapp.settings as settings_mod

        config = tmp / "config"
        os.environ["TRAYAPP_CONFIG_DIR"] = str(config)
        settings_mod.save(settings_mod.Settings(bridge_url=bridge.url, key=bridge.key, account_id="acme"))
        env = {**os.environ, "TRAYAPP_CONFIG_DIR": str(config)}
        keyring = "session keyring"
        if watcher is not None and not args.offscreen:
            from trayapp.client import credentials

            try:
                credentials.store_token(bridge.url, bridge.token)
                keyring = credentials.backend_name()
            except Exception as exc:
                say(f"no session keyring ({exc}); using benchmarks.envkeyring")
                keyring = ""
        else:
            keyring = ""
        if not keyring:
            keyring = "benchmarks.envkeyring.EnvKeyring (token from the environment)"
            env.update({"PYTHON_KEYRING_BACKEND": "benchmarks.envkeyring.EnvKeyring", "TRAYAPP_BENCH_TOKEN":
                        bridge.token, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                 env.get("PYTHONPATH")]))})
        if args.offscreen:
            runtime = tmp / "run"
            runtime.mkdir(mode=0o700)
            env["XDG_RUNTIME_DIR"] = str(runtime)  # its own single-instance socket
        result["keyring"] = keyring

        if "startup" not in args.skip:
            runs = []
            for i in range(args.runs):
                say(f"start-up run {i + 1}/{args.runs} (empty history)")
                runs.append(spawn_and_measure(tmp / f"run-{i}", env, watcher, tmp / f"run-{i}" / "data",
                                              idle_s=args.idle if i == args.runs - 1 else 0.0))
                runs[-1]["loadavg"] = loadavg()
            key = "sni_registered_s" if watcher else "window_shown_log_s"
            result["startup"] = {
                "measured_to": ("icon registered with org.kde.StatusNotifierWatcher" if watcher
                                else "no tray: the 'list window shown' log line"),
                "median_s": statistics.median(r[key] for r in runs),
                "min_s": min(r[key] for r in runs),
                "max_s": max(r[key] for r in runs),
                "median_main_s": statistics.median(r["main_s"] for r in runs),
                "median_connected_s": statistics.median(r["connected_s"] for r in runs),
                "median_rss_mib": round(statistics.median(r["rss"]["VmRSS"] for r in runs) / 1024, 1),
                "runs": runs,
            }
            result["idle"] = runs[-1].get("idle")

        if "history" not in args.skip and args.history_runs:
            filled = tmp / "prefill" / "history.sqlite3"
            say(f"pre-filling {args.history:,} events with History.add")
            seconds = prefill(filled, args.history)
            runs = []
            for i in range(args.history_runs):
                data = tmp / f"hist-{i}" / "data"
                data.mkdir(parents=True)
                for f in filled.parent.iterdir():
                    shutil.copy(f, data / f.name)
                say(f"start-up with {args.history:,} events in the history, run {i + 1}/{args.history_runs}")
                runs.append(spawn_and_measure(tmp / f"hist-{i}", env, watcher, data))
                runs[-1]["loadavg"] = loadavg()
            data = tmp / "hist-load" / "data"
            data.mkdir(parents=True)
            for f in filled.parent.iterdir():
                shutil.copy(f, data / f.name)
            say("the same history in a child process that watches its list model fill")
            out = subprocess.run([sys.executable, __file__, "--_load", str(data), str(args.history), bridge.url,
                                  bridge.key], capture_output=True, text=True, timeout=180,
                                 env={**os.environ, "TRAYAPP_BENCH_TOKEN": bridge.token})
            model_check = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {
                "error": out.stderr[-2000:]}
            result["history"] = {
                "model_check": model_check,
                "events": args.history,
                "prefill_s": round(seconds, 1),
                "db_mib": round(filled.stat().st_size / 2**20, 1),
                "median_rss_mib": round(statistics.median(r["rss"]["VmRSS"] for r in runs) / 1024, 1),
                "median_quiet_s": statistics.median(r["quiet_s"] for r in runs),
                "runs": runs,
            }

        if "latency" not in args.skip:
            say(f"latency: {args.events} webhooks, {args.spacing} s apart, in-process app")
            result["latency"] = latency(bridge, tmp / "latency", args.events, args.spacing)
    finally:
        if watcher is not None:
            watcher.close()
        bridge.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    result["loadavg_end"] = loadavg()
    startup = result.get("startup", {})
    lat = result.get("latency", {})
    result["targets"] = {
        "rss_le_120_mib": {"empty": startup.get("median_rss_mib"),
                           "history": result.get("history", {}).get("median_rss_mib")},
        "start_le_1_5_s": startup.get("median_s"),
        "frame_to_notification_le_50_ms_p99": lat.get("frame_received_to_show", {}).get("p99_ms"),
        "idle_cpu_percent": (result.get("idle") or {}).get("cpu_percent_schedstat"),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
