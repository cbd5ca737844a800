"""``client.connect.prove`` against real bridges: every outcome the link flow decides from."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.bridges import BridgeProcess, case_payload
from trayapp.client.connect import prove
from trayapp.client.errors import ClientError, ConnectionFailed, KeyMismatch, TokenRefused, TokenRevoked
from trayapp.client.proof import KEY_MISMATCH_WORDS, REVOKED_WORDS, Outcome, ProbeResult, outcome_of
from trayapp.core.link import build_link

from .test_bridge_integration import token_link
from .test_service import post

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(("error", "outcome"), [
    (KeyMismatch("x"), Outcome.KEY_MISMATCH),
    (TokenRevoked("x"), Outcome.REVOKED),  # a revoked token is refused too: the more precise one wins
    (TokenRefused("x"), Outcome.TOKEN_REFUSED),
    (ConnectionFailed("x"), Outcome.UNREACHABLE),
    (ClientError("no keyring"), Outcome.BROKEN),
])
def test_outcome_of_client_errors(error: ClientError, outcome: Outcome) -> None:
    assert outcome_of(error) is outcome


def test_words_are_agent_words() -> None:
    for outcome in Outcome:
        words = ProbeResult(outcome, "alerts.example.com", "ssl.SSLError: [SSL] record layer failure").words
        for jargon in ("bridge", "pinned", "Ed25519", "SSL", "refused", "HTTP", "token"):
            assert jargon not in words, (outcome, words)
    assert ProbeResult(Outcome.UNREACHABLE, "alerts.example.com").retry_helps
    assert not ProbeResult(Outcome.KEY_MISMATCH, "alerts.example.com").retry_helps


def test_prove_every_outcome(bridge_factory: Callable[..., BridgeProcess]) -> None:
    bp, other = bridge_factory(), bridge_factory()
    token, key, link = token_link(bp)
    _, other_key, _ = token_link(other)
    host = bp.url.split("//")[1]

    first = prove(link)  # no event yet: the signed hello proves the key all the same (protocol version 2)
    assert first.ok and first.key_proven and first.host == host
    wrong = prove(build_link(bp.url, token, other_key))
    assert wrong.outcome is Outcome.KEY_MISMATCH and wrong.words == KEY_MISMATCH_WORDS
    post(bp.url, case_payload(1))
    assert prove(link).ok
    unknown = prove(build_link(bp.url, "tb_" + "y" * 43, key))
    assert unknown.outcome is Outcome.TOKEN_REFUSED
    bp.cli("token", "revoke", "agent")
    revoked = prove(link)
    assert revoked.outcome is Outcome.REVOKED and revoked.words == REVOKED_WORDS
    down = prove(build_link("http://127.0.0.1:9", token, key), timeout=5)
    assert down.outcome is Outcome.UNREACHABLE and "cannot reach" in down.detail
    garbage = prove("trayapp://connect?url=x")
    assert garbage.outcome is Outcome.BROKEN and garbage.detail
