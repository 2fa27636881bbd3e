"""The prometheus kind against a real Prometheus server scraping metrics the tests shape: canary
against stable, against the previous release's window, too little data, a server that is not
there; and what the catalog accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from checks.kinds import ConfigError, get_kind
from checks.kinds.base import VerifiedRelease
from scripts.throwaway import free_port

from .conftest import context

URL_ENV = "SHOP_PROMETHEUS_URL"
STABLE = VerifiedRelease(version="1.0.0", git_sha="a" * 40)


@pytest.fixture
def server_env(monkeypatch, prometheus):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(URL_ENV, prometheus.url)
    return prometheus


def canary_config(service_metrics, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Error rate (key, absolute) and latency (relative to the stable version, same time)."""
    return {
        "url_env": URL_ENV,
        "window": "20s",
        "step": "1s",
        "min_samples": 3,
        "baseline": {"selector": {"version": "{previous_version}"}},
        "objectives": [
            {
                "name": "error rate",
                "query": f"max(pos_error_ratio{{{service_metrics.selector()}}})",
                "pass": "< 0.01",
                "warning": "< 0.05",
                "key": True,
            },
            {
                "name": "latency",
                "query": f"max(pos_latency_seconds{{{service_metrics.selector()}}})",
                "pass": "<= +10%",
                "warning": "<= +25%",
            },
        ],
        **extra,
    }


def evaluate(config: dict[str, Any], **extra: Any):  # type: ignore[no-untyped-def]
    ctx = context(
        "prometheus",
        config,
        version="1.1.0",
        verified=extra.pop("verified", STABLE),
        as_of=extra.pop("as_of", timezone.now()),
        **extra,
    )
    return get_kind("prometheus").evaluate(ctx)


def shaped(
    service_metrics, *, canary_errors: float, canary_latency: float, samples: int = 3
) -> None:  # type: ignore[no-untyped-def]
    service_metrics.set("1.0.0", errors=0.002, latency=0.200)
    service_metrics.set("1.1.0", errors=canary_errors, latency=canary_latency)
    service_metrics.wait_for_samples("1.0.0", samples, "pos_latency_seconds")
    service_metrics.wait_for_samples("1.1.0", samples, "pos_latency_seconds")


def test_a_canary_within_its_objectives_passes(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.003, canary_latency=0.205)
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.status == "pass", outcome.detail
    error_rate, latency = outcome.data["objectives"]
    assert (error_rate["verdict"], error_rate["value"]) == ("pass", 0.003)
    assert (latency["verdict"], latency["value"], latency["baseline"]) == ("pass", 0.205, 0.2)
    assert 'version="1.0.0"' in latency["baseline_query"]
    assert 'version="1.1.0"' in latency["query"]
    assert latency["samples"] >= 3
    assert latency["baseline_samples"] >= 3
    assert latency["thresholds"]["pass"] == [pytest.approx(0.22)]
    assert len(latency["series"]) == latency["samples"]  # what the chart draws
    # The detail names each objective, its value, the baseline and the verdict.
    assert "error rate (key): 0.003, pass < 0.01, warning < 0.05 → pass" in outcome.detail
    assert "latency: 0.205 (baseline 0.2), pass <= +10%, warning <= +25% → pass" in outcome.detail
    assert 'Baseline: version="1.0.0" over the same window.' in outcome.detail


def test_a_slower_canary_warns_and_a_much_slower_one_fails(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.003, canary_latency=0.230)
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.status == "warn", outcome.detail
    assert outcome.data["objectives"][1]["verdict"] == "warn"

    service_metrics.set("1.1.0", latency=0.400)
    service_metrics.wait_for_samples("1.1.0", 6, "pos_latency_seconds")
    outcome = evaluate(canary_config(service_metrics, window="2s", min_samples=2))
    assert outcome.status == "fail", outcome.detail
    assert outcome.detail.startswith("latency failed")


def test_a_failed_key_objective_fails_the_check_whatever_the_others(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.2, canary_latency=0.2)
    config = canary_config(service_metrics, total_score={"pass": 50, "warning": 25})
    config["objectives"] += [
        {"name": f"spare {n}", "query": "vector(1)", "pass": "= 1"} for n in range(3)
    ]
    outcome = evaluate(config)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Key objective error rate failed: 0.2 misses < 0.01.")


def test_too_few_samples_is_an_error_never_a_pass(server_env, service_metrics):
    service_metrics.set("1.1.0", errors=0.0, latency=0.1)
    service_metrics.set("1.0.0", errors=0.0, latency=0.1)
    service_metrics.wait_for_samples("1.1.0", 1, "pos_latency_seconds")
    outcome = evaluate(canary_config(service_metrics, window="30s", min_samples=25))
    assert outcome.status == "error"
    assert "not enough data:" in outcome.detail
    assert "25 needed" in outcome.detail


def test_a_query_without_data_is_an_error(server_env, service_metrics):
    config = canary_config(service_metrics)
    config["objectives"] = [
        {"name": "nothing", "query": 'max(pos_error_ratio{scope="none"})', "pass": "< 1"}
    ]
    outcome = evaluate(config)
    assert outcome.status == "error"
    assert outcome.detail.startswith("nothing: not enough data: 0 samples in the window")


def test_an_unreachable_prometheus_is_an_error_in_one_clear_line(monkeypatch, service_metrics):
    port = free_port()  # nothing listens there
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{port}")
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.status == "error"
    assert outcome.detail == f"Prometheus ({URL_ENV}) is unreachable: Connection refused."
    assert str(port) not in outcome.detail


def test_an_unset_url_variable_is_an_error_naming_it(monkeypatch, service_metrics):
    monkeypatch.delenv(URL_ENV, raising=False)
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.status == "error"
    assert outcome.detail == (
        f"The environment variable {URL_ENV}, which names the Prometheus server, is not set."
    )


def test_a_query_prometheus_refuses_is_an_error_with_its_reason(server_env, service_metrics):
    config = canary_config(service_metrics)
    config["objectives"] = [{"name": "broken", "query": "sum(rate(", "pass": "< 1"}]
    outcome = evaluate(config)
    assert outcome.status == "error"
    assert outcome.detail.startswith("broken: Prometheus refused the query: ")
    assert "parse error" in outcome.detail


def test_several_series_must_be_aggregated_to_one(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.0, canary_latency=0.2, samples=1)
    config = canary_config(service_metrics)
    config["objectives"] = [
        {
            "name": "per version",
            "query": f'pos_error_ratio{{scope="{service_metrics.name}"}}',
            "pass": "< 1",
        }
    ]
    outcome = evaluate(config)
    assert outcome.status == "error"
    assert "the query returned 2 series" in outcome.detail
    assert "aggregate them to one" in outcome.detail


def test_the_baseline_can_be_the_previous_release_over_its_own_window(server_env, service_metrics):
    """1.0.0 ran at 0.2 s until 1.1.0 was deployed; it has been faster since (0.1 s, say, on
    less traffic): the canary's 0.21 s is judged against 0.2, what 1.0.0 did in its window."""
    live_from = timezone.now()
    service_metrics.set("1.0.0", latency=0.200)
    service_metrics.set("1.1.0", latency=0.210)
    service_metrics.wait_for_samples("1.0.0", 4, "pos_latency_seconds")
    live_until = timezone.now()
    service_metrics.set("1.0.0", latency=0.100)
    service_metrics.wait_for_samples("1.1.0", 6, "pos_latency_seconds")
    config = {
        "url_env": URL_ENV,
        "window": "30s",
        "step": "1s",
        "min_samples": 3,
        "baseline": {"previous_release": True},
        "objectives": [
            {
                "name": "latency",
                "query": f"max(pos_latency_seconds{{{service_metrics.selector()}}})",
                "pass": "<= +10%",
            }
        ],
    }
    previous = VerifiedRelease(
        version="1.0.0", git_sha="a" * 40, live_from=live_from, live_until=live_until
    )
    outcome = evaluate(config, verified=previous)
    assert outcome.status == "pass", outcome.detail
    latency = outcome.data["objectives"][0]
    assert latency["baseline"] == 0.2
    assert 'version="1.0.0"' in latency["baseline_query"]
    assert outcome.data["baseline"]["window"]["end"] == live_until.isoformat()
    assert "1.0.0, the release verified in production before" in outcome.detail


def test_without_a_release_verified_before_relative_criteria_are_an_error(
    server_env, service_metrics
):
    shaped(service_metrics, canary_errors=0.0, canary_latency=0.2)
    outcome = evaluate(canary_config(service_metrics), verified=None)
    assert outcome.status == "error"
    assert "no baseline: no release has been verified in production before 1.1.0" in outcome.detail


def test_if_missing_skip_judges_by_the_absolute_criteria_alone(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.0, canary_latency=0.2)
    config = canary_config(service_metrics)
    config["baseline"]["if_missing"] = "skip"
    outcome = evaluate(config, verified=None)
    assert outcome.status == "pass", outcome.detail
    assert [o["verdict"] for o in outcome.data["objectives"]] == ["pass", "info"]


def test_instant_objectives_are_measured_by_the_server_at_the_windows_end(
    server_env, service_metrics
):
    shaped(service_metrics, canary_errors=0.004, canary_latency=0.2)
    config = canary_config(service_metrics)
    config["objectives"] = [
        {
            "name": "error rate",
            "query": f"max_over_time(pos_error_ratio{{{service_metrics.selector()}}}[{{window}}])",
            "pass": "< 0.01",
            "aggregate": "instant",
        }
    ]
    outcome = evaluate(config)
    assert outcome.status == "pass", outcome.detail
    assert outcome.data["objectives"][0]["value"] == 0.004
    assert "[20s]" in outcome.data["objectives"][0]["query"]


class _Recorder(BaseHTTPRequestHandler):
    """Stands in for a Prometheus behind a proxy that wants a token: answers 401 without it."""

    seen: list[str] = []

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        status, body = (
            (200, b'{"status":"success","data":{"resultType":"matrix","result":[]}}')
            if self.headers.get("Authorization") == "Bearer right-token"
            else (401, b"Unauthorized")
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/prometheus"
    server.shutdown()
    server.server_close()


def test_the_token_is_sent_as_a_bearer_and_never_shown(monkeypatch, token_server, service_metrics):
    monkeypatch.setenv(URL_ENV, token_server)
    monkeypatch.setenv("SHOP_PROMETHEUS_TOKEN", "wrong-token")
    config = canary_config(service_metrics, token_env="SHOP_PROMETHEUS_TOKEN")
    refused = evaluate(config)
    assert refused.detail == (f"Prometheus ({URL_ENV}) refused the request (401): check its token.")
    monkeypatch.setenv("SHOP_PROMETHEUS_TOKEN", "right-token")
    answered = evaluate(config)
    assert answered.status == "error"  # no data behind this stand-in
    assert "not enough data" in answered.detail
    assert _Recorder.seen[-1] == "Bearer right-token"
    assert "right-token" not in answered.detail + str(answered.data)


# What the catalog accepts ------------------------------------------------------------------


def valid(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "url_env": URL_ENV,
        "objectives": [{"name": "errors", "query": "vector(0)", "pass": "< 0.01"}],
    }
    config.update(changes)
    return config


def refusal(config: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ConfigError) as refused:
        get_kind("prometheus").validate(config)
    return refused.value.field, refused.value.message


def test_the_server_is_named_by_variables_that_are_not_preflights_own():
    assert refusal(valid(url_env="DATABASE_URL"))[0] == "url_env"
    assert refusal(valid(url_env="PREFLIGHT_PROMETHEUS"))[0] == "url_env"
    assert refusal(valid(token_env="SECRET_KEY"))[0] == "token_env"
    assert refusal(valid(url_env="http://prometheus:9090"))[0] == "url_env"


def test_durations_are_read_and_stored_as_seconds():
    clean = get_kind("prometheus").validate(
        valid(window="10m", step="30s", verification={"interval": "30s", "duration": "10m"})
    )
    assert (clean["window"], clean["step"]) == (600, 30)
    assert clean["verification"] == {"interval": 30, "duration": 600}
    assert get_kind("prometheus").validate(clean) == clean  # exported and imported again


def test_relative_criteria_need_a_baseline():
    config = valid(objectives=[{"name": "p95", "query": "vector(1)", "pass": "<= +10%"}])
    field, message = refusal(config)
    assert field == "objectives.0"
    assert "say what they compare with in baseline" in message


def test_a_baseline_selector_must_change_the_query():
    config = valid(
        baseline={"selector": {"version": "{previous_version}"}},
        objectives=[{"name": "p95", "query": 'max(lat{job="pos"})', "pass": "<= +10%"}],
    )
    field, message = refusal(config)
    assert field == "objectives.0.query"
    assert "does not match on it" in message


def test_unknown_placeholders_and_impossible_sample_counts_are_refused():
    config = valid(objectives=[{"query": 'up{version="{versoin}"}', "pass": "= 1"}])
    assert refusal(config) == (
        "objectives.0.query",
        "unknown placeholder {versoin}; use {project}, {version}, {git_sha}, {environment}, "
        "{previous_version}, {previous_git_sha}, {window}",
    )
    assert refusal(valid(window="1m", step="15s", min_samples=10))[0] == "min_samples"


def test_the_verification_interval_stays_within_its_limits():
    assert refusal(valid(verification={"interval": "20m", "duration": "1h"}))[0] == (
        "verification.interval"
    )
    assert refusal(valid(verification={"interval": "1m", "duration": "30s"}))[0] == (
        "verification.duration"
    )


def test_a_readiness_window_ends_when_the_run_was_started(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.0, canary_latency=0.2)
    as_of = timezone.now() - timedelta(minutes=30)  # before this test's series existed
    outcome = evaluate(canary_config(service_metrics), as_of=as_of)
    assert outcome.status == "error"
    assert outcome.data["window"]["end"] == as_of.isoformat()


def test_the_documented_examples_are_valid_configs():
    import re
    from pathlib import Path

    import yaml
    from django.conf import settings

    docs = (Path(settings.BASE_DIR) / "docs" / "readiness.md").read_text()
    section = docs.split("### prometheus")[1].split("\n### ")[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    checks = [check for block in blocks for check in yaml.safe_load(block)]
    assert [c["code"] for c in checks] == ["OBS-001", "OBS-002", "OBS-003"]
    for check in checks:
        assert check["kind"] == "prometheus"
        get_kind("prometheus").validate(check["config"])


def test_a_fractional_timeout_reaches_prometheus_as_it_reads_one(server_env, service_metrics):
    shaped(service_metrics, canary_errors=0.0, canary_latency=0.2)
    outcome = evaluate(canary_config(service_metrics, timeout_seconds=2.5))
    assert outcome.status == "pass", outcome.detail


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    monkeypatch, token_server, service_metrics
):
    import base64

    monkeypatch.setenv(URL_ENV, token_server.replace("http://", "http://pos:s3cr%40t@"))
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.detail == f"Prometheus ({URL_ENV}) refused the request (401): check its token."
    assert _Recorder.seen[-1] == "Basic " + base64.b64encode(b"pos:s3cr@t").decode()


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://promhost:port/", "ftp://promhost/", "http://prom\nhost:1/"]
)
def test_a_url_that_cannot_be_used_is_an_error_that_does_not_quote_it(
    monkeypatch, service_metrics, url
):
    monkeypatch.setenv(URL_ENV, url)
    outcome = evaluate(canary_config(service_metrics))
    assert outcome.status == "error"
    assert URL_ENV in outcome.detail
    assert "host" not in outcome.detail
    assert "::1" not in outcome.detail
