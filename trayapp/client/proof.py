"""What connecting with a link proved: :class:`ProbeResult` (an :class:`Outcome` + the host + technical details).

The probe (``client.connect.prove``) opens the stream with a link's token and checks the link's key; its answer is
one of these outcomes, and the app decides from it alone: store the link, keep the old one, offer *Retry* and
*Save anyway*. :func:`outcome_of` maps the client's exceptions onto outcomes (``TokenRevoked`` before
``TokenRefused``: a revoked token is refused too). ``words`` are for agents ("alert server", "your admin");
``detail`` is the technical reason, for *Details* and the log (never the token).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..core.words import KEY_MISMATCH_WORDS, REFUSED_WORDS, REVOKED_WORDS
from .errors import ClientError, ConnectionFailed, KeyMismatch, TokenRefused, TokenRevoked

__all__ = ["KEY_MISMATCH_WORDS", "REFUSED_WORDS", "REVOKED_WORDS", "Outcome", "ProbeResult", "failed", "outcome_of"]


class Outcome(enum.Enum):
    OK = "ok"  # connected; the key is proven when ``key_proven``
    UNREACHABLE = "unreachable"  # no answer, refused, timed out, not a trayapp alert server, untrusted certificate
    KEY_MISMATCH = "key_mismatch"  # the server does not sign with the link's key
    TOKEN_REFUSED = "token_refused"  # HTTP 401: the server does not know this token
    REVOKED = "revoked"  # HTTP 403 / close 4001: the admin turned this token off
    BROKEN = "broken"  # anything else (no keyring, unreadable certificate file, ...): see the detail


@dataclass(frozen=True, slots=True)
class ProbeResult:
    outcome: Outcome
    host: str
    detail: str = ""  # technical words: Details / the log
    key_proven: bool = False  # the link's key verified something the server signed

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def retry_helps(self) -> bool:
        """Trying again later may work (and *Save anyway* makes sense): the server was not reached."""
        return self.outcome is Outcome.UNREACHABLE

    @property
    def words(self) -> str:
        """One or two sentences for the agent: what is wrong and what to do."""
        if self.outcome is Outcome.OK:
            if self.key_proven:
                return "Connected to your team's alert server. Alerts will pop up here."
            return ("Connected to your team's alert server. It has sent no alerts yet, so the link's key is checked "
                    "with the first one.")
        if self.outcome is Outcome.UNREACHABLE:
            return (f"Your team's alert server ({self.host}) cannot be reached right now. Check that this computer "
                    "is online and try again. If your admin says the server is down for now, choose Save anyway.")
        if self.outcome is Outcome.KEY_MISMATCH:
            return KEY_MISMATCH_WORDS
        if self.outcome is Outcome.TOKEN_REFUSED:
            return REFUSED_WORDS
        if self.outcome is Outcome.REVOKED:
            return REVOKED_WORDS
        return "This link could not be used on this computer. Ask your admin, and show them the details."


def outcome_of(exc: ClientError) -> Outcome:
    """The outcome a client error stands for."""
    if isinstance(exc, KeyMismatch):
        return Outcome.KEY_MISMATCH
    if isinstance(exc, TokenRevoked):
        return Outcome.REVOKED
    if isinstance(exc, TokenRefused):
        return Outcome.TOKEN_REFUSED
    if isinstance(exc, ConnectionFailed):
        return Outcome.UNREACHABLE
    return Outcome.BROKEN


def failed(exc: ClientError, host: str) -> ProbeResult:
    """The result of a probe that raised ``exc``."""
    return ProbeResult(outcome_of(exc), host, str(exc) or type(exc).__name__)
