"""Throwaway PostgreSQL and Redis servers, started for one test or benchmark run and removed after.

    python -m scripts.throwaway -- pytest -x        # runs pytest with DATABASE_URL and REDIS_URL set

A variable that is already set is kept and its server is not started, so the suite can run
against servers you name. Each server lives in a temporary directory on a free port and is
stopped by PID; nothing is left behind. Tests import ``PostgresServer`` and ``RedisServer`` to
start servers of their own: with special settings (WAL archiving), or to stop and start them
while Preflight runs (``halt``, then ``resume`` / ``start``: the fault tests).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    sys.exit("throwaway: PostgreSQL server binaries (initdb) not found; install postgresql")


class Server:
    """Something started for a run and stopped after it: ``with Server() as server: ...``."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class PostgresServer(Server):
    """A PostgreSQL cluster in a temporary directory. ``settings`` become ``-c name=value``."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        self.dir = Path(tempfile.mkdtemp(prefix="preflight-pg-"))
        self.data = self.dir / "data"
        self.bindir = postgres_bindir()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, args: Sequence[str]) -> list[str]:
        # initdb refuses to run as root; the cluster belongs to the postgres user then.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def start(self) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._as_postgres(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.resume()

    def resume(self) -> None:
        """Start the server on its cluster (again, after ``halt``), on the same port."""
        options = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        subprocess.run(
            self._as_postgres(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "server.log"),
                    "-o",
                    f"-p {self.port} -k {self.dir} {options}",
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def halt(self) -> None:
        """Stop the server and keep its cluster (``resume`` starts it again): a restart, as
        fault tests need. Every connection to it is dropped."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown: nothing here needs saving
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(Server):
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="preflight-redis-"))
        self.pid_file = self.dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or sys.exit(
            "throwaway: redis-server not found; install redis-server"
        )
        subprocess.run(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            check=True,
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"throwaway: redis-server did not start on port {self.port}")

    def halt(self) -> None:
        """Stop the server (``start`` starts it again, on the same port, empty: it saves
        nothing), and wait until it is gone."""
        for _ in range(40):
            if self.pid_file.exists():
                break
            time.sleep(0.05)
        if self.pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                pid = int(self.pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            self.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print(__doc__)
        return 2
    env = dict(os.environ)
    servers: list[Server] = []
    try:
        if not env.get("DATABASE_URL"):
            postgres = PostgresServer()
            postgres.start()
            servers.append(postgres)
            env["DATABASE_URL"] = postgres.url
        if not env.get("REDIS_URL"):
            redis = RedisServer()
            redis.start()
            servers.append(redis)
            env["REDIS_URL"] = redis.url
        # Run the command as a child and forward Ctrl-C, so the servers are always stopped.
        child = subprocess.Popen(argv, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            return child.wait()
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
