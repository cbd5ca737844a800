"""What a popup is, as plain values: :class:`Notification`, :class:`Urgency`, :data:`LIST_TARGET`.

The back-ends that show them (:mod:`trayapp.ui.notify`) are Qt; the alert policy that decides them
(:mod:`trayapp.model.alerts`) is not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

#: The ``target`` of a notification that opens the list rather than one event (summaries).
LIST_TARGET = "list"


class Urgency(enum.IntEnum):
    """The freedesktop urgency levels."""

    LOW = 0
    NORMAL = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True)
class Notification:
    """One popup.

    ``key`` is its identity: showing a notification whose key is still on screen *replaces* it
    (e.g. ``case:5121`` so successive events of a case update one popup). ``target`` is what a
    click opens: an event id, or :data:`LIST_TARGET`.
    """

    key: str
    title: str
    body: str
    target: str
    urgency: Urgency = Urgency.NORMAL
    category: str | None = None
    icon: Path | None = None
    extra_hints: dict[str, str] = field(default_factory=dict, compare=False)
