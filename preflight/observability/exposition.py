"""/metrics in the Prometheus text format, for a scraper holding PREFLIGHT_METRICS_TOKEN.

No token configured: the endpoint does not exist (404). A missing or wrong bearer token: 401.
The token is compared in constant time. The web server answers with the sum over its worker
processes (multiprocess mode, see multiproc.py) and the state read at scrape time; the Celery
worker answers on its own port with its own counts and the same rule (``serve_worker_metrics``).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from . import multiproc
from .collector import StateCollector

log = logging.getLogger(__name__)
CHALLENGE = 'Bearer realm="metrics"'


class _Together(Collector):
    def __init__(self, *sources: Collector) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def process_metrics() -> Collector:
    """This server's counts: every process's files in multiprocess mode, else this process's."""
    if multiproc.enabled():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def authorized(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Both sides as bytes: compare_digest refuses non-ASCII str, and a header may carry it.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.PREFLIGHT_METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: PREFLIGHT_METRICS_TOKEN is not set")
    if not authorized(request.headers.get("Authorization", ""), token):
        response = HttpResponse(
            "A bearer token is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = CHALLENGE
        return response
    body = generate_latest(_Together(process_metrics(), StateCollector()))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


# --- The Celery worker's port ---------------------------------------------------------------

Start = Callable[[str, list[tuple[str, str]]], Any]


def worker_app(token: str) -> Callable[[dict[str, Any], Start], Iterable[bytes]]:
    """A WSGI app answering /metrics with the worker's own counts, by the rule of the web one."""

    def app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
        def answer(status: str, body: bytes, *headers: tuple[str, str]) -> Iterable[bytes]:
            start_response(status, [("Content-Type", "text/plain"), *headers])
            return [body]

        if environ.get("PATH_INFO") != "/metrics" or not token:
            return answer("404 Not Found", b"Not found.\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return answer("405 Method Not Allowed", b"GET only.\n", ("Allow", "GET, HEAD"))
        if not authorized(environ.get("HTTP_AUTHORIZATION", ""), token):
            return answer(
                "401 Unauthorized",
                b"A bearer token is required.\n",
                ("WWW-Authenticate", CHALLENGE),
            )
        body = generate_latest(process_metrics())
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the worker's log."""


def serve_worker_metrics(address: str, port: int, token: str) -> ThreadingWSGIServer:
    """Serve the worker's metrics from a daemon thread of its main process."""
    server = make_server(
        address,
        port,
        worker_app(token),
        server_class=ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    log.info("worker metrics on http://%s:%s/metrics", address, server.server_port)
    return server
