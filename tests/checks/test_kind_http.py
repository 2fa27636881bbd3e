"""The http kind against a real local HTTP server."""

from __future__ import annotations

import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.http import evaluate, validate
from checks.models import CheckResult
from checks.services.runs import run_execute, run_start
from scripts.fake_http import FakeHTTPServer
from scripts.throwaway import free_port

from ..conftest import as_actor
from ..factories import CheckFactory
from .conftest import context


def probe(config, **kwargs):  # type: ignore[no-untyped-def]
    return evaluate(context("http", config, **kwargs))


def test_the_expected_status_passes(http_server):
    outcome = probe({"url": http_server.url("/ok")})
    assert outcome.status == "pass"
    assert outcome.data["status"] == 200
    assert outcome.evidence_url == http_server.url("/ok")


def test_another_status_fails_and_says_what_came(http_server):
    outcome = probe({"url": http_server.url("/status/503")})
    assert outcome.status == "fail"
    assert "answered 503, expected 200" in outcome.detail


def test_a_list_of_expected_statuses(http_server):
    assert probe({"url": http_server.url("/status/204"), "expected_status": [200, 204]}).status == (
        "pass"
    )
    assert probe({"url": http_server.url("/status/404"), "expected_status": 404}).status == "pass"


def test_the_body_must_contain_the_substring(http_server):
    assert probe({"url": http_server.url("/ok"), "body_contains": "ok"}).status == "pass"
    outcome = probe({"url": http_server.url("/ok"), "body_contains": "healthy"})
    assert outcome.status == "fail"
    assert "'healthy'" in outcome.detail


def test_json_fields_by_path(http_server):
    url = http_server.url("/json")
    fields = {"status": "ok", "database.up": True, "workers.0.name": "w1"}
    assert probe({"url": url, "json": fields}).status == "pass"

    wrong = probe({"url": url, "json": {"database.lag": 5}})
    assert wrong.status == "fail"
    assert "database.lag is 0, expected 5" in wrong.detail

    missing = probe({"url": url, "json": {"workers.3.name": "w4"}})
    assert missing.status == "fail"
    assert "workers.3.name is missing" in missing.detail

    not_json = probe({"url": http_server.url("/ok"), "json": {"status": "ok"}})
    assert not_json.status == "fail"
    assert "did not answer JSON" in not_json.detail


def test_over_the_latency_budget_warns_or_fails_as_configured(http_server):
    slow = http_server.url("/sleep/0.3")
    warned = probe({"url": slow, "latency_budget_ms": 50})
    assert warned.status == "warn"
    assert "over its 50 ms budget" in warned.detail
    assert warned.data["latency_ms"] >= 300
    assert (
        probe({"url": slow, "latency_budget_ms": 50, "latency_exceeded": "fail"}).status == "fail"
    )
    assert probe({"url": slow, "latency_budget_ms": 5000}).status == "pass"


def test_no_answer_within_the_timeout_fails(http_server):
    outcome = probe({"url": http_server.url("/sleep/3"), "timeout_seconds": 0.3})
    assert outcome.status == "fail"
    assert "did not answer within 0.3 s" in outcome.detail


def test_the_run_time_limit_caps_the_configured_timeout(http_server):
    outcome = probe({"url": http_server.url("/sleep/3"), "timeout_seconds": 30}, timeout=0.3)
    assert outcome.status == "fail"
    assert "within 0.3 s" in outcome.detail


def test_an_unreachable_server_fails():
    outcome = probe({"url": f"http://127.0.0.1:{free_port()}/health"})
    assert outcome.status == "fail"
    assert "unreachable" in outcome.detail


def test_a_header_secret_is_read_from_the_environment_and_never_shown(http_server, monkeypatch):
    monkeypatch.setenv("FAKE_API_TOKEN", http_server.token)
    config = {
        "url": http_server.url("/auth"),
        "headers": {"Authorization": "Bearer ${FAKE_API_TOKEN}"},
    }
    outcome = probe(config)
    assert outcome.status == "pass"
    assert http_server.requests[-1][1]["Authorization"] == f"Bearer {http_server.token}"
    assert http_server.token not in repr(outcome)


def test_a_secret_header_variable_that_is_not_set_is_an_error_naming_the_variable(http_server):
    config = {"url": http_server.url("/auth"), "headers": {"X-Api-Key": "${NOT_SET_ANYWHERE}"}}
    outcome = probe(config)
    assert outcome.status == "error"
    assert "NOT_SET_ANYWHERE" in outcome.detail
    assert http_server.requests == []


@pytest.mark.django_db
def test_the_secret_is_not_stored_with_the_result(
    http_server, monkeypatch, release, environments, deployer
):
    monkeypatch.setenv("FAKE_API_TOKEN", http_server.token)
    for path in ("/auth", "/status/500"):
        CheckFactory(
            project=release.project,
            kind="http",
            config=validate(
                {
                    "url": http_server.url(path),
                    "headers": {"Authorization": "Bearer ${FAKE_API_TOKEN}"},
                }
            ),
        )
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    results = list(
        CheckResult.objects.filter(run=run).values("status", "detail", "data", "evidence_url")
    )
    assert sorted(r["status"] for r in results) == ["fail", "pass"]
    assert http_server.token not in repr(results)


def test_placeholders_fill_the_url(http_server, settings):
    settings.PREFLIGHT_BASE_URL = http_server.url("")
    outcome = probe({"url": "{base_url}/status/{version}"}, version="204", environment_slug="x")
    assert outcome.status == "fail"
    assert http_server.requests[-1][0] == "/status/204"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "http://x/{nope}"}, "url"),
        ({"url": "http://x", "method": "DELETE"}, "method"),
        (
            {"url": "http://x", "headers": {"Authorization": "Bearer hunter2"}},
            "headers.Authorization",
        ),
        ({"url": "http://x", "expected_status": 42}, "expected_status"),
        ({"url": "http://x", "json": []}, "json"),
        ({"url": "http://x", "latency_budget_ms": 0}, "latency_budget_ms"),
        ({"url": "http://x", "latency_exceeded": "error"}, "latency_exceeded"),
        ({"url": "http://x", "timeout_seconds": 600}, "timeout_seconds"),
        ({"url": "http://x", "verify": False}, "verify"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("http").validate(config)
    assert refused.value.field == field


def test_the_fake_server_is_real_http():
    with FakeHTTPServer() as server:
        assert probe({"url": server.url("/nothing-here"), "expected_status": 404}).status == "pass"


@pytest.mark.parametrize(
    "variable", ["SECRET_KEY", "DATABASE_URL", "PREFLIGHT_WEBHOOK_KEY", "AWS_SECRET_ACCESS_KEY"]
)
def test_preflights_own_secrets_cannot_be_sent_in_a_header(variable):
    with pytest.raises(ConfigError) as refused:
        validate(
            {
                "url": "https://collector.example.com/",
                "headers": {"X-Anything": "${" + variable + "}"},
            }
        )
    assert refused.value.field == "headers.X-Anything"
    assert "Preflight's own configuration" in refused.value.message


def test_a_stored_config_naming_preflights_secret_sends_nothing(http_server):
    from checks.kinds import CheckContext

    # Written around the validation (an old catalog, a direct edit): refused when it runs.
    ctx = CheckContext(
        check_id=1, code="T-1", config={"url": http_server.url("/ok"), "headers": {"X-Key": "${SECRET_KEY}"}},
        project_slug="shop", release_id=1, version="1", git_sha="a", environment_id=1,
        environment_slug="production", timeout=5,
    )  # fmt: skip
    outcome = evaluate(ctx)
    assert outcome.status == "error"
    assert http_server.requests == []


def test_a_redirect_is_the_answer_and_carries_no_secret_elsewhere(http_server, monkeypatch):
    monkeypatch.setenv("FAKE_API_TOKEN", http_server.token)
    with FakeHTTPServer() as elsewhere:
        config = {
            "url": http_server.url("/redirect?to=" + elsewhere.url("/auth")),
            "headers": {"Authorization": "Bearer ${FAKE_API_TOKEN}"},
        }
        outcome = probe(config)
        assert outcome.status == "fail"
        assert "answered 302, expected 200" in outcome.detail
        assert elsewhere.requests == []
        assert probe({**config, "expected_status": 302}).status == "pass"
