"""The chaos suite uses the bridge fixtures of ``tests.support.bridges``: real ``trayapp-bridge serve`` processes,
on SQLite or Redis."""
