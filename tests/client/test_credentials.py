"""The token lives in the OS keyring only; an unusable or plaintext keyring is a clear error, never a fallback."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail, null
from keyring.backends.chainer import ChainerBackend
from keyring.errors import KeyringLocked, PasswordSetError

from tests.support.client import MemoryKeyring
from trayapp.client import credentials
from trayapp.client.errors import ClientError, CredentialsError, NoKeyring

URL = "https://bridge.example.com"


@pytest.fixture
def use_backend() -> Iterator[object]:
    previous = keyring.get_keyring()

    def use(backend: object) -> None:
        keyring.set_keyring(backend)  # type: ignore[arg-type]

    yield use
    keyring.set_keyring(previous)


def test_store_load_delete(memory_keyring: MemoryKeyring) -> None:
    assert credentials.load_token(URL) is None
    credentials.store_token(URL, "tb_secret")
    assert memory_keyring.store == {("trayapp", URL): "tb_secret"}
    assert credentials.load_token(URL) == "tb_secret"
    assert credentials.delete_token(URL) is True
    assert credentials.delete_token(URL) is False
    assert credentials.load_token(URL) is None
    assert credentials.load_token("") is None


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_no_usable_keyring_is_a_clear_error(use_backend, backend: object) -> None:  # type: ignore[no-untyped-def]
    use_backend(backend)
    with pytest.raises(NoKeyring, match="no secure keyring") as info:
        credentials.store_token(URL, "tb_secret")
    assert isinstance(info.value, ClientError)
    assert "tb_secret" not in str(info.value)
    with pytest.raises(NoKeyring):
        credentials.load_token(URL)


def test_plaintext_backend_refused(use_backend) -> None:  # type: ignore[no-untyped-def]
    class PlaintextKeyring(MemoryKeyring):
        pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    PlaintextKeyring.__qualname__ = "PlaintextKeyring"
    use_backend(PlaintextKeyring())
    with pytest.raises(NoKeyring):
        credentials.store_token(URL, "tb_secret")


def test_chainer_skips_refused_backends(use_backend) -> None:  # type: ignore[no-untyped-def]
    ring = MemoryKeyring()

    class Chain(ChainerBackend):
        @property
        def backends(self) -> list[object]:  # type: ignore[override]
            return [null.Keyring(), ring]

    use_backend(Chain())
    credentials.store_token(URL, "tb_secret")
    assert ring.store == {("trayapp", URL): "tb_secret"}
    assert credentials.load_token(URL) == "tb_secret"


def test_locked_and_failing_backends(use_backend) -> None:  # type: ignore[no-untyped-def]
    class Locked(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise KeyringLocked("locked")

        def set_password(self, service: str, username: str, password: str) -> None:
            raise PasswordSetError("refused by the user")

    use_backend(Locked())
    with pytest.raises(CredentialsError, match="locked"):
        credentials.load_token(URL)
    with pytest.raises(CredentialsError, match="cannot store") as info:
        credentials.store_token(URL, "tb_secret")
    assert "tb_secret" not in str(info.value)


def test_empty_values_refused(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(CredentialsError):
        credentials.store_token("", "tb")
    with pytest.raises(CredentialsError):
        credentials.store_token(URL, "")
