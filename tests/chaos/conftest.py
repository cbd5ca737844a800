"""The chaos suite reuses the integration fixtures: real ``trayapp-bridge serve`` processes, on SQLite or Redis."""

from tests.integration.conftest import backend, bridge_factory  # noqa: F401 - fixtures
