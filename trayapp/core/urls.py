"""Conversation URLs, built locally from a template; never taken from a payload."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, urlsplit

from .event import Event

DEFAULT_TEMPLATE: Final = "https://{account}.acquire.io/inbox/case/{case_id}"
_ACCOUNT_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def template_problem(template: str) -> str | None:
    """Why a template cannot be used, in words; ``None`` when it is fine."""
    parts = urlsplit(template.replace("{case_id}", "1").replace("{account}", "acct"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the conversation address must start with http:// or https:// and name a host"
    try:
        template.format_map(_Values(case_id="1", account="acct"))
    except (KeyError, ValueError, IndexError) as exc:
        return f"the conversation address may only use {{case_id}} and {{account}} ({exc})"
    return None


def conversation_url(template: str, event: Event, account: str | None = None) -> str | None:
    """The URL that opens ``event``'s conversation, or ``None`` if there is none to open.

    ``{case_id}`` and ``{account}`` are percent-encoded into the template. The result must be
    http(s) on the template's own host, so a crafted case id can never send the agent elsewhere.
    """
    if event.case_id is None or template_problem(template):
        return None
    acct = account or event.account or ""
    if "{account}" in template and not _ACCOUNT_RE.fullmatch(acct):
        return None  # the account must be one DNS label: it may stand in the host name
    url = template.format_map(_Values(case_id=quote(event.case_id, safe=""), account=quote(acct, safe="")))
    expected = urlsplit(template.replace("{case_id}", "1").replace("{account}", quote(acct, safe="") or "x"))
    actual = urlsplit(url)
    if actual.scheme not in ("http", "https") or actual.hostname != expected.hostname:
        return None
    return url
