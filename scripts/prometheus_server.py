"""A real Prometheus server for tests of the ``prometheus`` kind: Debian's binary, a config of a
few lines scraping the targets given every second, storage in a temporary directory, a free
port; stopped by PID and removed after.

    with PrometheusServer(["127.0.0.1:9100"]) as prometheus:
        prometheus.url   # http://127.0.0.1:PORT

or with a whole configuration and the files it names beside it (rule files, token files):

    PrometheusServer(config=text, files={"rules.yml": rules})
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from scripts.throwaway import Server, free_port

BINARY = "/usr/bin/prometheus"


def binary() -> str | None:
    return BINARY if os.access(BINARY, os.X_OK) else shutil.which("prometheus")


class PrometheusServer(Server):
    def __init__(
        self,
        targets: Sequence[str] = (),
        *,
        scrape_interval: str = "1s",
        config: str | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.config = config
        self.files = dict(files or {})
        self.scrape_interval = scrape_interval
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="preflight-prometheus-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("prometheus not found; install it (apt-get install prometheus)")
        for name, text in self.files.items():
            (self.dir / name).write_text(text)
        config = self.dir / "prometheus.yml"
        # JSON is YAML: no YAML library needed to write the few lines.
        config.write_text(
            self.config
            if self.config is not None
            else json.dumps(
                {
                    "global": {
                        "scrape_interval": self.scrape_interval,
                        "evaluation_interval": self.scrape_interval,
                    },
                    "scrape_configs": [
                        {"job_name": "test", "static_configs": [{"targets": self.targets}]}
                    ],
                }
            )
        )
        self.process = subprocess.Popen(
            [
                found,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=(self.dir / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.dir / "prometheus.log").read_text(errors="replace")
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {log}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus did not become ready within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path: str) -> dict[str, object]:
        """The data of a GET on the HTTP API, e.g. ``targets`` or ``rules``."""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=5) as answer:
            data: dict[str, object] = json.loads(answer.read())["data"]
        return data

    def query(self, promql: str) -> list[dict[str, object]]:
        """An instant query's result, for a test waiting until the data it needs is there."""
        body = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=body, timeout=5) as answer:
            document = json.loads(answer.read())
        result: list[dict[str, object]] = document["data"]["result"]
        return result
