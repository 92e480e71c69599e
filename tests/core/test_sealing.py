"""The vault master key and AES-GCM sealing: round trip, tampering, key files."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from vesalius.core.config import Settings, load_settings
from vesalius.core.errors import ConfigError
from vesalius.core.sealing import MasterKey, SealError, key_path, seal, unseal

KEY = bytes(range(32))


def test_round_trip_and_context_binding() -> None:
    sealed = seal(KEY, b"Doe^John", b"project:a|row:1")
    assert b"Doe" not in sealed
    assert unseal(KEY, sealed, b"project:a|row:1") == b"Doe^John"
    assert seal(KEY, b"Doe^John", b"c") != seal(KEY, b"Doe^John", b"c")  # fresh nonce
    with pytest.raises(SealError):
        unseal(KEY, sealed, b"project:b|row:1")  # moved to another row or project
    with pytest.raises(SealError):
        unseal(bytes(32), sealed, b"project:a|row:1")  # another key
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(SealError):
        unseal(KEY, bytes(tampered), b"project:a|row:1")


def test_key_file_is_created_private_on_first_need(settings: Settings) -> None:
    master = MasterKey(settings)
    assert master.get(create=False) is None
    key = master.require()
    path = key_path(settings)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey(settings).get(create=False) == key  # read back by another process


def test_loose_key_file_is_refused_naming_the_path_not_the_key(settings: Settings) -> None:
    key = MasterKey(settings).require()
    path = key_path(settings)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError) as error:
        MasterKey(settings).get()
    message = str(error.value)
    assert str(path) in message and "chmod 600" in message
    assert base64.b64encode(key).decode() not in message


def test_a_key_file_that_is_not_a_key_is_refused(settings: Settings) -> None:
    path = key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(b"short"))
    os.close(fd)
    with pytest.raises(ConfigError, match="32 bytes"):
        MasterKey(settings).get()


def test_key_from_the_environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESALIUS_VAULT_KEY", base64.b64encode(KEY).decode())
    assert MasterKey(load_settings(settings.home)).get(create=False) == KEY
    assert not key_path(settings).exists()
    monkeypatch.setenv("VESALIUS_VAULT_KEY", "not base64!")
    with pytest.raises(ConfigError, match="VESALIUS_VAULT_KEY") as error:
        MasterKey(load_settings(settings.home)).get()
    assert "not base64!" not in str(error.value)
    assert "*" in str(load_settings(settings.home).public_view()["vault_key"])
