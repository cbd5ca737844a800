"""``wss://``: the system trust store refuses a self-signed bridge; the settings' ``ca_file`` (a pinned certificate)
makes it trusted. Against a real ``trayapp-bridge serve --tls-cert/--tls-key``."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.bridges import BridgeProcess
from tests.support.client import Recorder, run_connection
from trayapp.client.connect import prove
from trayapp.client.connection import Connection, ConnectionConfig
from trayapp.client.history import MemoryCursor
from trayapp.client.proof import Outcome
from trayapp.core.link import build_link
from trayapp.model.connection import ConnectionState

from .test_bridge_integration import token_link

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]  # real bridge processes


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trayapp test bridge")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "bridge.pem", directory / "bridge.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_wss_needs_the_pinned_certificate(bridge_factory: Callable[..., BridgeProcess], tmp_path: Path) -> None:
    cert, key_file = self_signed(tmp_path)
    bp = bridge_factory("--tls-cert", str(cert), "--tls-key", str(key_file))
    assert bp.url.startswith("https://")
    token, key, _ = token_link(bp)

    untrusted = Recorder()
    conn = Connection(ConnectionConfig(bp.url, token, key), MemoryCursor(), untrusted, delays=lambda: iter([30.0]))
    async with run_connection(conn):
        await untrusted.until(lambda: untrusted.state is ConnectionState.OFFLINE)
    assert "certificate is not trusted" in untrusted.states[-1].detail

    trusted = Recorder()
    conn = Connection(ConnectionConfig(bp.url, token, key, ca_file=str(cert)), MemoryCursor(), trusted)
    async with run_connection(conn):
        await trusted.until(lambda: bool(trusted.caught_up))
    assert trusted.state is ConnectionState.CONNECTED

    link = build_link(bp.url, token, key)
    proven = await asyncio.to_thread(prove, link, ca_file=str(cert))
    assert proven.ok and "connected to" in proven.detail
    refused = await asyncio.to_thread(prove, link)
    assert refused.outcome is Outcome.UNREACHABLE and "not trusted" in refused.detail
