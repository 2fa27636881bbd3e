from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from api import gate_cache
from scripts.throwaway import free_port


def task_callbacks(callbacks: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The on-commit callbacks that send tasks: every audited change also retires the project's
    cached gate answers after commit, which these tests do not count."""
    return [c for c in callbacks if getattr(c, "func", None) is not gate_cache._new_state]


def hanging_pg_tools(directory: Path) -> Path:
    """A PREFLIGHT_PG_BINDIR whose pg_dump and pg_restore never finish: a server that hangs."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pg_dump", "pg_restore"):
        tool = directory / name
        tool.write_text("#!/bin/sh\nexec sleep 60\n")
        tool.chmod(0o755)
    return directory


@contextmanager
def local_s3(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local S3 (moto's server on its own port) with an empty bucket ``backups`` that backups
    go to; yields a client of it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    settings.PREFLIGHT_BACKUP_S3_BUCKET = "backups"
    settings.PREFLIGHT_BACKUP_S3_ENDPOINT = f"http://{host}:{port}"
    settings.PREFLIGHT_BACKUP_S3_PREFIX = "preflight"
    client = boto3.client("s3", endpoint_url=settings.PREFLIGHT_BACKUP_S3_ENDPOINT)
    client.create_bucket(Bucket="backups")
    try:
        yield client
    finally:
        # moto keeps its buckets in this process, not in the server: forget them, or the next
        # test's bucket starts with this one's files.
        reset = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        server.stop()
