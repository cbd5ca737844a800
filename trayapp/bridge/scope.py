"""Department scoping of tokens: what a token scoped to some departments may read.

``trayapp-bridge token add NAME --departments "Sales,Support"`` stores the departments with the token (names
compared case-insensitively, surrounding spaces ignored). A scoped token's stream, backlog and ``/v1/events``
(and ``/v1/cases``, the ``cases`` frame: :meth:`TokenScope.allows_department`, by the case's department) carry the
events of those departments **and the unassigned ones** (no department: a new case nobody routed yet
must reach everyone who might take it); a token without departments reads everything. An event's department is
the normalised ``event.department`` of its frame (read once per event and cached by seq).

Skipped events are not gaps: a scoped connection's seqs jump over other departments' events, which is never
announced (the client's cursor simply moves on with the next event it gets, or with ``caught_up``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable

from .errors import BadRequest
from .store import StoredEvent

MAX_DEPARTMENTS = 50
_CACHE_SIZE = 20_000
# (seq, hash of the frame) -> the event's department, casefolded (a str caches its hash: cheap after the first)
_departments: OrderedDict[tuple[int, int], str | None] = OrderedDict()


def parse_departments(text: str) -> tuple[str, ...]:
    """``"Sales, Support"`` → ``("Sales", "Support")``; BadRequest for empty or oversized lists."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise BadRequest("--departments needs at least one department name (comma-separated)")
    if len(names) > MAX_DEPARTMENTS or any(len(n) > 100 for n in names):
        raise BadRequest(f"--departments takes at most {MAX_DEPARTMENTS} names of at most 100 characters")
    return names


def department_of(event: StoredEvent) -> str | None:
    key = (event.seq, hash(event.frame))
    found = _departments.get(key, "")
    if found != "":
        _departments.move_to_end(key)
        return found
    try:
        value = json.loads(event.frame)["event"].get("department")
    except (ValueError, KeyError, TypeError, AttributeError):
        value = None
    department = value.strip().casefold() or None if isinstance(value, str) else None
    _departments[key] = department
    while len(_departments) > _CACHE_SIZE:
        _departments.popitem(last=False)
    return department


class TokenScope:
    """The departments one token may read; ``None`` from :func:`scope_of` means "everything"."""

    __slots__ = ("departments",)

    def __init__(self, departments: Iterable[str]) -> None:
        self.departments = frozenset(d.strip().casefold() for d in departments)

    def allows(self, event: StoredEvent) -> bool:
        return self.allows_department(department_of(event))

    def allows_department(self, department: str | None) -> bool:
        """A case or event of ``department`` (as sent; ``None``: unassigned) is this token's to read."""
        name = department.strip().casefold() if department else None
        return not name or name in self.departments


def scope_of(departments: Iterable[str]) -> TokenScope | None:
    names = tuple(departments)
    return TokenScope(names) if names else None
