"""Visitors' text shown as plain text, whatever reads it.

Every string of an event was typed by an anonymous website visitor. The core cleans display fields once where the
event is derived; the UI does not rely on that alone (rows from an older history, words built from several fields,
a back-end that fails on one bad character). Each place that hands text to something that may parse it goes through
one of these:

- :func:`clean`: the core's rules once more (:mod:`trayapp.core.text`): lone surrogates become U+FFFD (jeepney,
  D-Bus, Qt and SQLite refuse them), NUL and the other C0/C1 controls (except tab and newline, when allowed) and the
  bidi embedding/override/isolate controls are removed, and the length is capped with an ellipsis.
- :func:`markup_escaped`: for a body that a freedesktop server reads as markup (``body-markup``).
- :func:`inert`: for a receiver that may or may not read markup (the tray-message fallback: Qt forwards it unescaped
  to a notification server, or shows it in a label that guesses): ``<``, ``>`` and ``&`` become look-alikes that no
  markup parser acts on.
- :func:`rich_plain`: for Qt widgets that guess between plain and rich text (tooltips): the text escaped inside an
  explicit rich-text document, so it is always shown literally.
"""

from __future__ import annotations

import html
import sys

from trayapp.core.text import display

_INERT = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06"})
#: What a popup shows at most: a title line and a few lines of body (servers cut longer text anyway).
TITLE_CHARS = 120
BODY_CHARS = 400
#: A list tooltip and a list cell at most (a 10,000-character title stays usable).
TOOLTIP_CHARS = 1000
CELL_CHARS = 300


def clean(text: str | None, limit: int | None = None, newlines: bool = True) -> str:
    """``text`` safe to hand to any toolkit or bus: the core's rules (:func:`trayapp.core.text.display`) applied
    again here, to words built from several fields and to rows an older version stored. ``newlines=False`` folds
    tabs and line breaks into single spaces (titles, cells); ``limit`` caps the length (an ellipsis ends a cut
    text)."""
    return display(text, sys.maxsize if limit is None else limit, multiline=newlines) or ""


def markup_escaped(text: str | None, limit: int | None = None) -> str:
    """Cleaned, then escaped for a freedesktop notification body (the subset of markup servers accept)."""
    return html.escape(clean(text, limit), quote=False)


def inert(text: str | None, limit: int | None = None, newlines: bool = True) -> str:
    """Cleaned, with ``<``, ``>`` and ``&`` replaced by look-alikes (‹ › ＆): plain under any reading."""
    return clean(text, limit, newlines).translate(_INERT)


def rich_plain(text: str | None, limit: int | None = None) -> str | None:
    """A tooltip that Qt shows literally: escaped text in an explicit rich-text document (``None`` when empty)."""
    body = clean(text, limit)
    if not body:
        return None
    return "<qt>" + html.escape(body, quote=False).replace("\n", "<br>") + "</qt>"
