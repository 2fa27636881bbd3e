"""A small service's metrics as a test shapes them: prometheus-client serving a registry of its
own on a free port, in a thread, for the real Prometheus the tests start to scrape.

Every test takes a ``scope`` of its own (a label on every series), so series of other tests in
the same Prometheus never meet its queries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from scripts.prometheus_server import PrometheusServer


class Exporter:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.errors = Gauge(
            "pos_error_ratio",
            "Share of requests that failed.",
            ["scope", "version"],
            registry=self.registry,
        )
        self.latency = Gauge(
            "pos_latency_seconds",
            "p95 request latency.",
            ["scope", "version"],
            registry=self.registry,
        )
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.target = f"127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Scope:
    """One test's series: ``set(version, errors=…, latency=…)`` shapes what the next scrapes see."""

    def __init__(self, exporter: Exporter, prometheus: PrometheusServer) -> None:
        self.name = uuid.uuid4().hex[:12]
        self.exporter = exporter
        self.prometheus = prometheus

    def set(
        self, version: str, *, errors: float | None = None, latency: float | None = None
    ) -> None:
        if errors is not None:
            self.exporter.errors.labels(self.name, version).set(errors)
        if latency is not None:
            self.exporter.latency.labels(self.name, version).set(latency)

    def selector(self, version: str = "{version}") -> str:
        return f'scope="{self.name}",version="{version}"'

    def wait_for_samples(self, version: str, samples: int, metric: str = "pos_error_ratio") -> None:
        """Until Prometheus holds ``samples`` scrapes of the version's series."""
        query = f"count_over_time({metric}{{{self.selector(version)}}}[1m])"
        wait_until(
            lambda: any(
                float(r["value"][1]) >= samples  # type: ignore[index]
                for r in self.prometheus.query(query)
            ),
            seconds=samples * 2 + 15,
        )


def wait_until(condition: Callable[[], bool], seconds: float, every: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"gave up waiting after {seconds} s")
