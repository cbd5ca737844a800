"""Every uvicorn internal that ``trayapp.bridge.protocols`` relies on still exists in the installed uvicorn.

A uvicorn upgrade that renames or drops one fails here, naming it, instead of somewhere deep in a bridge test.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import uvicorn

from trayapp.bridge.protocols import UVICORN_INTERNALS


def _owner_name(owner: Any) -> str:
    return getattr(owner, "__qualname__", getattr(owner, "__name__", repr(owner)))


@pytest.mark.parametrize(("owner", "name"), UVICORN_INTERNALS,
                         ids=[f"{_owner_name(o)}:{n}" for o, n in UVICORN_INTERNALS])
def test_internal_still_exists(owner: Any, name: str) -> None:
    where = f"uvicorn {uvicorn.__version__}: {_owner_name(owner)}"
    if name.isidentifier():  # a method we override and call through super()
        found = any(name in vars(cls) for cls in inspect.getmro(owner))
        assert found, f"{where} has no method {name!r} any more: re-check trayapp/bridge/protocols.py"
        assert callable(getattr(owner, name)), f"{where}.{name} is no longer a method"
    else:  # an attribute or a call the protocols rely on, as it appears in uvicorn's source
        source = "".join(inspect.getsource(cls) for cls in inspect.getmro(owner) if cls.__module__.startswith(
            "uvicorn"))
        assert name in source, f"{where} no longer contains {name!r}: re-check trayapp/bridge/protocols.py"


def test_every_override_is_pinned() -> None:
    from trayapp.bridge import protocols

    pinned = {(o, n) for o, n in UVICORN_INTERNALS}
    for ours, base in ((protocols.BridgeHttpProtocol, protocols.HttpToolsProtocol),
                       (protocols.BridgeWebSocketProtocol, protocols.WebSocketsSansIOProtocol),
                       (protocols.BridgeServer, uvicorn.Server)):
        for name in vars(ours):
            if not name.startswith("__") and any(name in vars(cls) for cls in inspect.getmro(base)):
                assert (base, name) in pinned, f"{ours.__name__}.{name} overrides uvicorn but is not pinned"
