"""Real git repositories for tests: a bare "origin" that a work clone commits and pushes to, and
git's own smart-HTTP backend (``git http-backend``, CGI) behind a local HTTP server in a thread
that asks for a token, Basic or bearer, so a wrong credential is refused as a real host would."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


class Origin:
    """A bare repository (what the catalog's url names) and a work clone that commits to it."""

    def __init__(self, root: Path, name: str = "pos.git", branch: str = "main") -> None:
        self.bare = root / name
        self.work = root / f"{name}.work"
        self.branch = branch
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.bare))
        git("init", "--quiet", f"--initial-branch={branch}", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def commit(
        self, files: Mapping[str, str | None], message: str = "change", *, push: bool = True
    ) -> str:
        """Write (or, for None, delete) ``files`` and commit them; returns the commit id."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work)
        if push:
            self.push()
        return sha

    def push(self, *, force: bool = False) -> None:
        git(
            "push", "--quiet", *(["--force"] if force else []), "origin", self.branch, cwd=self.work
        )

    def tag(self, name: str, sha: str, *, annotated: bool = True) -> None:
        args = ["-a", "-m", name] if annotated else []
        git("tag", *args, name, sha, cwd=self.work)
        git("push", "--quiet", "origin", f"refs/tags/{name}", cwd=self.work)

    def reset_hard(self, sha: str) -> None:
        git("reset", "--quiet", "--hard", sha, cwd=self.work)

    def prune_unreachable(self) -> None:
        """What a host's garbage collection does eventually: objects no ref reaches are gone."""
        git("reflog", "expire", "--expire=now", "--all", cwd=self.bare)
        git("gc", "--quiet", "--prune=now", cwd=self.bare)


def _command_lines_holding(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # the process ended meanwhile
        if text in line:
            found.append(line)
    return found


class GitHTTPServer:
    """``git http-backend`` serving every repository under ``root`` over HTTP on a private
    port. With ``token`` set, a request must carry ``Authorization: Bearer <token>`` or Basic
    credentials whose password is the token; anything else gets 401. ``requests`` keeps the
    headers each request came with (to show no secret travels where it should not)."""

    def __init__(self, root: Path, *, token: str = "", user: str = "", watch_for: str = "") -> None:
        self.root = root
        self.token = token
        self.user = user
        self.requests: list[dict[str, str]] = []
        # While git is fetching (it waits for this answer), the command lines of every process
        # on the machine that hold ``watch_for``: a secret must never be one.
        self.watch_for = watch_for
        self.command_lines: list[str] = []
        backend = git("--exec-path") + "/git-http-backend"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _authorized(self) -> bool:
                if not server.token:
                    return True
                given = self.headers.get("Authorization", "")
                if given == f"Bearer {server.token}":
                    return True
                if given.startswith("Basic "):
                    try:
                        decoded = base64.b64decode(given[6:]).decode()
                    except ValueError:
                        return False
                    user, _, password = decoded.partition(":")
                    return password == server.token and (not server.user or user == server.user)
                return False

            def _serve(self) -> None:
                server.requests.append(dict(self.headers.items()) | {"path": self.path})
                if server.watch_for:
                    server.command_lines.extend(_command_lines_holding(server.watch_for))
                if not self._authorized():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self._body()
                path, _, query = self.path.partition("?")
                env = {
                    **GIT_ENV,
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": self.client_address[0],
                    "REMOTE_USER": "git",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                done = subprocess.run(
                    [backend], input=body, env=env, capture_output=True, check=False
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = done.stdout.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def __enter__(self) -> GitHTTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
