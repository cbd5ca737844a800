"""The demo's wiring, apart from the product: ``bridge`` (the real bridge embedded in this process, plus a
simulator thread; no Qt) and ``app`` (``trayapp demo``: the tray connected to it)."""
