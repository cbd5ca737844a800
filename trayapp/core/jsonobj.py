"""One JSON object from untrusted text: the parse every reader of a body, frame or snapshot starts with."""

from __future__ import annotations

import json
from typing import Any

from .errors import CoreError


def load_object(text: str | bytes, error: type[CoreError], what: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; ``error("<what> is not JSON")`` or ``error("<what> is not a JSON object")``
    otherwise (nesting too deep counts as not JSON)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise error(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise error(f"{what} is not a JSON object")
    return data
