"""A keyring back-end for the benchmark's offscreen runs (no Secret Service there): it hands out the token in
``$TRAYAPP_BENCH_TOKEN`` and stores nothing. Selected in the spawned app with
``PYTHON_KEYRING_BACKEND=benchmarks.envkeyring.EnvKeyring`` (and the checkout on ``PYTHONPATH``).
Never for real use: the token sits in the environment."""

from __future__ import annotations

import os

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError, PasswordSetError


class EnvKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return os.environ.get("TRAYAPP_BENCH_TOKEN") or None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("benchmark keyring: read-only")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError("benchmark keyring: read-only")
