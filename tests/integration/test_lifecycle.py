"""Process lifecycle of ``trayapp-bridge serve``: startup, SIGTERM, kill -9 durability, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.bridges import (
    BIN,
    BOTH_BACKENDS,
    BridgeProcess,
    case_payload,
    cli,
    connect,
    post,
    recv_until_caught_up,
)
from trayapp.core import wire
from trayapp.core.link import parse_link


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_sockets_1001_and_exits_0(bridge: BridgeProcess, sig: int) -> None:
    sockets = [await connect(bridge, bridge.token(f"agent{i}")) for i in range(3)]
    for ws in sockets:
        await recv_until_caught_up(ws)
    bridge.signal(sig)
    for ws in sockets:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert await asyncio.to_thread(bridge.wait) == 0
    assert len(bridge.stdout_lines) == 1 and bridge.stdout_lines[0].startswith("trayapp-bridge listening on http://")
    log = bridge.stderr()
    assert "ERROR" not in log and "Traceback" not in log


@BOTH_BACKENDS
async def test_kill9_after_acknowledged_deliveries_loses_nothing(bridge_factory: Any) -> None:
    bp: BridgeProcess = bridge_factory()
    acked: dict[int, int] = {}  # case number -> seq
    stop = asyncio.Event()

    async def poster(worker: int) -> None:
        async with httpx.AsyncClient(base_url=bp.url, timeout=10) as http:
            n = worker * 100_000
            while not stop.is_set():
                n += 1
                try:
                    resp = await post(http, case_payload(n))
                except httpx.HTTPError:
                    return  # the process died mid-request: not acknowledged
                assert resp.status_code == 200
                acked[n] = resp.json()["seq"]

    tasks = [asyncio.create_task(poster(w)) for w in range(8)]
    while len(acked) < 300:
        await asyncio.sleep(0.01)  # polling the acknowledgement count, not waiting for time
    bp.kill9()
    stop.set()
    await asyncio.gather(*tasks)
    bp2: BridgeProcess = bridge_factory(data_dir=bp.data_dir)
    ws = await connect(bp2, bp2.token(), since=0)
    _, frames, caught = await recv_until_caught_up(ws)
    assert caught.head == len(frames)
    stored = {f.seq: int(f.event["case_id"]) for f in frames if isinstance(f, wire.EventFrame)}
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))  # gap-free, nothing lost in the middle
    for number, seq in acked.items():
        assert stored[seq] == number
    await ws.close()
    async with httpx.AsyncClient(base_url=bp2.url) as http:  # dedupe survives the crash too
        some = next(iter(acked))
        assert (await post(http, case_payload(some))).json() == {"seq": acked[some], "duplicate": True}


def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACQUIRE_WEBHOOK_SECRET"}
    proc = subprocess.run([str(BIN), "serve", "--port", "0", "--data-dir", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "ACQUIRE_WEBHOOK_SECRET" in proc.stderr and "--secret-file" in proc.stderr


async def test_secret_file_rotation_key_and_token_link(bridge_factory: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "secrets"
    secret_file.write_text("# rotated\nwhsec_new\n")
    bp: BridgeProcess = bridge_factory("--secret-file", str(secret_file))  # env secret stays valid too
    key_file = bp.data_dir / "signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (bp.data_dir / "bridge.url").read_text().strip() == bp.url
    out = json.loads(cli("token", "add", "frank", "--json", data_dir=bp.data_dir).stdout)
    link = parse_link(out["link"])
    assert link.url == bp.url and link.token == out["token"] and link.key == out["key"]
    db = (bp.data_dir / "bridge.sqlite3").read_bytes()
    assert out["token"].encode() not in db  # only the hash is stored
    async with httpx.AsyncClient(base_url=bp.url) as http:
        assert (await http.get("/v1/key")).json()["key"] == out["key"]
        assert (await post(http, case_payload(1))).status_code == 200  # the env secret
        from tests.support.bridges import signed

        body, headers = signed(case_payload(2), secret="whsec_new")
        assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 200
        body, headers = signed(case_payload(3), secret="whsec_other")
        assert (await http.post("/webhooks/acquire", content=body, headers=headers)).status_code == 401
        assert (await http.get("/readyz")).json()["head"] == 2
        metrics = (await http.get("/metrics")).text
        assert 'trayapp_bridge_bad_signatures_total{reason="mismatch"} 1.0' in metrics
        assert "trayapp_bridge_ingest_seconds_bucket" in metrics
    text = cli("token", "list", data_dir=bp.data_dir).stdout
    assert "frank" in text and "active" in text and out["token"] not in text
    assert cli("token", "revoke", "nobody", data_dir=bp.data_dir, check=False).returncode == 1


async def test_keepalive_closes_a_silent_peer_and_keeps_a_live_one(bridge_factory: Any) -> None:
    from .test_stream import RawClient

    bp: BridgeProcess = bridge_factory("--ping-interval", "0.2", "--ping-timeout", "0.3")
    token = bp.token()
    silent = RawClient(bp, token)  # never reads, so never answers a ping
    live = await connect(bp, token)  # the websockets client answers pings by itself
    await recv_until_caught_up(live)
    async with httpx.AsyncClient(base_url=bp.url) as http:
        while "trayapp_bridge_connected_clients 1.0" not in (await http.get("/metrics")).text:
            await asyncio.sleep(0.05)  # polling the bridge's own count, until the silent peer is dropped
        assert (await post(http, case_payload(1))).status_code == 200
    frame = await asyncio.wait_for(live.recv(), 10)
    assert isinstance(wire.decode(frame), wire.EventFrame)
    await asyncio.to_thread(silent.read_to_close)
    assert silent.proto.close_rcvd is not None and silent.proto.close_rcvd.code == 1011
    await live.close()


async def test_tls(bridge_factory: Any, tmp_path: Path) -> None:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    bp: BridgeProcess = bridge_factory("--tls-cert", str(cert_file), "--tls-key", str(key_file))
    assert bp.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert_file))
    async with httpx.AsyncClient(base_url=bp.url, verify=context) as http:
        assert (await post(http, case_payload(1))).json() == {"seq": 1, "duplicate": False}
    import websockets

    ws = await websockets.connect(bp.url.replace("https://", "wss://") + "/v1/stream?since=0", ssl=context,
                                  additional_headers={"Authorization": f"Bearer {bp.token()}"})
    _, frames, caught = await recv_until_caught_up(ws)
    assert [f.seq for f in frames] == [1] and caught.head == 1  # type: ignore[union-attr]
    await ws.close()
