"""The S3-compatible object store Preflight writes to: backups (backups/storage.py) and copies of
the audit chain's anchors (audit/anchors.py). One endpoint (PREFLIGHT_BACKUP_S3_ENDPOINT, or AWS
itself) and the usual AWS_* credentials serve both; each names its own bucket."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings


class S3Error(Exception):
    """An object cannot be written, read or deleted; the message says which and why."""


def client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=settings.PREFLIGHT_BACKUP_S3_ENDPOINT or None)


def error_code(exc: Exception) -> str:
    """The service's error code (NoSuchBucket, AccessDenied…) or the exception's type."""
    # botocore puts the code in ``response``; boto3's transfer manager wraps that error and
    # keeps the code only in its message, as "(NoSuchBucket)".
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if not code:
        found = re.search(r"\((\w+)\) when calling", str(exc))
        code = found.group(1) if found else ""
    return code or type(exc).__name__


def put_bytes(bucket: str, key: str, data: bytes, *, content_type: str) -> str:
    """Write one small object; return its ``s3://`` location."""
    location = f"s3://{bucket}/{key}"
    try:
        client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    except Exception as exc:  # botocore's errors share no useful base class
        raise S3Error(f"Cannot upload to {location}: {error_code(exc)}.") from exc
    return location
