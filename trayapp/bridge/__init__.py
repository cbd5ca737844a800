"""trayapp-bridge: verified Acquire webhooks in, a durable, signed, resumable event stream out.

Modules: ``config`` (settings), ``errors``, ``store`` (backend interface) / ``store_sqlite``, ``keys``, ``tokens``,
``ingest`` (POST route), ``stream`` (WebSocket route) and ``hub`` (fan-out), ``app``
(Starlette), ``server`` (uvicorn), ``cli``,
``metrics``, ``simulator`` (the demo embeds the bridge: ``trayapp.demo``). The benchmark is not part of the
product: ``benchmarks/bench_bridge.py``.
"""
