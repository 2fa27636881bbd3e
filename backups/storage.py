"""Where backup files live: a local directory (``file://`` locations) or an S3-compatible
bucket (``s3://bucket/key``). A backup's ``location`` names its file completely, so a backup
taken to S3 stays readable after the settings change to a local directory, and the other way."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

from core import s3

READ_CHUNK = 1 << 20


class StorageError(Exception):
    """A backup file cannot be written, read or deleted; the message says which and why."""


def _s3_client() -> Any:
    return s3.client()


def _s3_error(exc: Exception, location: str, doing: str) -> StorageError:
    return StorageError(f"Cannot {doing} {location}: {s3.error_code(exc)}.")


def put(local: Path, key: str) -> str:
    """Store a finished local file under ``key``; return its location. The local file is moved
    (local storage) or uploaded and removed (S3)."""
    bucket = settings.PREFLIGHT_BACKUP_S3_BUCKET
    if bucket:
        prefix = settings.PREFLIGHT_BACKUP_S3_PREFIX.strip("/")
        object_key = f"{prefix}/{key}" if prefix else key
        location = f"s3://{bucket}/{object_key}"
        try:
            _s3_client().upload_file(str(local), bucket, object_key)
        except Exception as exc:  # botocore's errors share no useful base class
            raise _s3_error(exc, location, "upload to") from exc
        finally:
            local.unlink(missing_ok=True)
        return location
    target = Path(settings.PREFLIGHT_BACKUP_DIR).resolve() / key
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)
    except OSError as exc:
        raise StorageError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return target.as_uri()


def local_path(location: str) -> Path | None:
    """The file of a local location, or None when the location is not on this machine."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if not parsed.scheme and location.startswith("/"):
        return Path(location)
    return None


def _s3_parts(location: str) -> tuple[str, str] | None:
    parsed = urlparse(location)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        return None
    return parsed.netloc, parsed.path.lstrip("/")


def readable(location: str) -> bool:
    return local_path(location) is not None or _s3_parts(location) is not None


def chunks(location: str) -> Iterator[bytes]:
    """The stored bytes of a backup, streamed."""
    path = local_path(location)
    if path is not None:
        try:
            with path.open("rb") as handle:
                while block := handle.read(READ_CHUNK):
                    yield block
        except FileNotFoundError:
            raise StorageError(f"The backup file {path} does not exist.") from None
        except OSError as exc:
            raise StorageError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        return
    parts = _s3_parts(location)
    if parts is None:
        raise StorageError(
            f"Preflight cannot read {location or 'a backup without a location'}: "
            "only file:// and s3:// locations can be restored."
        )
    try:
        body = _s3_client().get_object(Bucket=parts[0], Key=parts[1])["Body"]
        while block := body.read(READ_CHUNK):
            yield block
    except Exception as exc:
        raise _s3_error(exc, location, "read") from exc


def sha256_of(location: str) -> str:
    digest = hashlib.sha256()
    for block in chunks(location):
        digest.update(block)
    return digest.hexdigest()


def delete(location: str) -> None:
    """Remove a backup file; one already gone counts as removed."""
    path = local_path(location)
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot delete {path}: {exc.strerror or exc}.") from exc
        return
    parts = _s3_parts(location)
    if parts is None:
        raise StorageError(f"Preflight cannot delete {location}: not a file:// or s3:// location.")
    try:
        _s3_client().delete_object(Bucket=parts[0], Key=parts[1])
    except Exception as exc:
        raise _s3_error(exc, location, "delete") from exc
