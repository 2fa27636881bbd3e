"""Backup encryption: AES-256-GCM over a stream, in chunks, so a backup of any size is encrypted
and decrypted in constant memory.

File layout::

    MAGIC (8) | key id (8) | nonce prefix (8) | chunk*      chunk = length (4) | ciphertext+tag

The top bit of a chunk's length marks the last chunk. Each chunk's nonce is the random prefix
and its counter; the header, the counter and the last-chunk flag are authenticated data, so
chunks cannot be reordered, dropped or the file cut short without decryption failing. The key
id (an HMAC of the key, not the key) lets a wrong key be told apart from a damaged file.

The key is 32 bytes, base64-encoded, in the environment variable named by the setting
PREFLIGHT_BACKUP_KEY_ENV; it is read when needed and never stored or logged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from core.config import secret_value

MAGIC = b"PFBAK\x00\x01\n"
CHUNK = 1 << 20
_LAST = 0x8000_0000
_TAG = 16


class BackupKeyError(Exception):
    """The key is missing, malformed or not the one the backup was encrypted with."""


class DecryptionFailed(Exception):
    """The encrypted file is damaged or was altered."""


def key_env() -> str:
    return str(settings.PREFLIGHT_BACKUP_KEY_ENV)


def key_available() -> bool:
    return bool(secret_value(key_env()))


def load_key() -> bytes:
    name = key_env()
    value = secret_value(name)
    if not value:
        raise BackupKeyError(
            f"The environment variable {name} (the backup encryption key) is not set."
        )
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BackupKeyError(
            f"{name} is not base64: expected 32 random bytes, base64-encoded."
        ) from None
    if len(key) != 32:
        raise BackupKeyError(f"{name} decodes to {len(key)} bytes: expected 32 (AES-256).")
    return key


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"preflight-backup-key-id", hashlib.sha256).digest()[:8]


def _aad(header: bytes, counter: int, last: bool) -> bytes:
    return header + struct.pack(">I?", counter, last)


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def encrypt_stream(source: BinaryIO, target: BinaryIO, key: bytes) -> None:
    aes = AESGCM(key)
    header = MAGIC + key_id(key) + os.urandom(8)
    prefix = header[-8:]
    target.write(header)
    counter = 0
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        sealed = aes.encrypt(_nonce(prefix, counter), current, _aad(header, counter, last))
        target.write(struct.pack(">I", len(sealed) | (_LAST if last else 0)))
        target.write(sealed)
        if last:
            return
        counter += 1
        current = following


def decrypt_stream(source: BinaryIO, target: BinaryIO, key: bytes) -> None:
    header = source.read(len(MAGIC) + 16)
    if len(header) < len(MAGIC) + 16 or not header.startswith(MAGIC):
        raise DecryptionFailed("The file is not a Preflight-encrypted backup (bad header).")
    if not hmac.compare_digest(header[len(MAGIC) : len(MAGIC) + 8], key_id(key)):
        raise BackupKeyError(
            f"The backup was encrypted with a different key than the one in {key_env()}."
        )
    aes = AESGCM(key)
    prefix = header[-8:]
    counter = 0
    while True:
        raw = source.read(4)
        if len(raw) < 4:
            raise DecryptionFailed("The encrypted backup is cut short (no final chunk).")
        (length,) = struct.unpack(">I", raw)
        last = bool(length & _LAST)
        length &= ~_LAST
        sealed = source.read(length)
        if len(sealed) < length or length < _TAG:
            raise DecryptionFailed("The encrypted backup is cut short.")
        try:
            target.write(aes.decrypt(_nonce(prefix, counter), sealed, _aad(header, counter, last)))
        except InvalidTag:
            raise DecryptionFailed(
                f"Chunk {counter} of the encrypted backup fails authentication: the file was altered."
            ) from None
        if last:
            if source.read(1):
                raise DecryptionFailed("The encrypted backup has data after its final chunk.")
            return
        counter += 1
