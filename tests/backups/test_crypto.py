from __future__ import annotations

import base64
import io
import os

import pytest

from backups import crypto

from .conftest import KEY_ENV, new_key

KEY = os.urandom(32)


def _encrypt(data: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


def _decrypt(data: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK, 2 * crypto.CHUNK + 17])
def test_encryption_round_trips_any_size(size):
    data = os.urandom(size)
    sealed = _encrypt(data)
    if size >= 64:
        assert data[:64] not in sealed
    assert _decrypt(sealed) == data


def test_a_wrong_key_is_told_apart_from_a_damaged_file():
    with pytest.raises(crypto.BackupKeyError, match="encrypted with a different key"):
        _decrypt(_encrypt(b"rows"), os.urandom(32))


def test_an_altered_byte_fails_authentication():
    sealed = bytearray(_encrypt(os.urandom(3000)))
    sealed[-20] ^= 0x80
    with pytest.raises(crypto.DecryptionFailed, match="fails authentication"):
        _decrypt(bytes(sealed))


def test_a_file_cut_at_a_chunk_boundary_is_detected():
    data = os.urandom(crypto.CHUNK + 10)
    sealed = _encrypt(data)
    first_chunk_end = len(crypto.MAGIC) + 16 + 4 + crypto.CHUNK + 16
    with pytest.raises(crypto.DecryptionFailed, match="cut short"):
        _decrypt(sealed[:first_chunk_end])


def test_the_key_comes_from_the_named_variable_and_must_be_32_bytes(monkeypatch, settings):
    settings.PREFLIGHT_BACKUP_KEY_ENV = KEY_ENV
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(crypto.BackupKeyError, match=f"{KEY_ENV} .* is not set"):
        crypto.load_key()
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"short").decode())
    with pytest.raises(crypto.BackupKeyError, match="decodes to 5 bytes: expected 32"):
        crypto.load_key()
    monkeypatch.setenv(KEY_ENV, "not base64!")
    with pytest.raises(crypto.BackupKeyError, match="is not base64"):
        crypto.load_key()
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    assert crypto.load_key() == base64.b64decode(key)
