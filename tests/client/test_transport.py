"""Retries and idempotency keys, over a real socket to a scripted fake API."""

from __future__ import annotations

import uuid

import pytest
from preflight_client.transport import ApiError, Client, UsageError, api_root, path

from .fake_api import DROP

CREATED = (201, {"id": 7, "status": "in_progress"})
DEPLOYMENTS = "/projects/shop/deployments/"


def deploy(preflight, *extra):
    return preflight("deploy", "shop", "1.0.0", "production", *extra)


def test_every_post_carries_a_fresh_uuid4_idempotency_key(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, CREATED)
    deploy(preflight)
    deploy(preflight)
    keys = [s.headers["idempotency-key"] for s in fake_api.requests_to(DEPLOYMENTS)]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(k).version == 4 for k in keys)


@pytest.mark.parametrize("failure", [(503, "busy upstream"), (500, {"code": "error"}), DROP])
def test_a_post_is_retried_with_the_same_key_after_a_5xx_or_a_dropped_connection(
    preflight, fake_api, failure
):
    fake_api.script(DEPLOYMENTS, failure, failure, CREATED)
    outcome = deploy(preflight)
    assert (outcome.code, outcome.out) == (0, "7\n")
    seen = fake_api.requests_to(DEPLOYMENTS)
    assert len(seen) == 3
    assert len({s.headers["idempotency-key"] for s in seen}) == 1
    assert {s.body["version"] for s in seen} == {"1.0.0"}
    assert outcome.sleeps == pytest.approx([0.5, 1.0], rel=0.1)
    assert "retrying" in outcome.err


def test_a_key_given_by_the_pipeline_is_sent_as_is(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, CREATED)
    deploy(preflight, "--idempotency-key", "run-4242-deploy")
    assert fake_api.requests_to(DEPLOYMENTS)[0].headers["idempotency-key"] == "run-4242-deploy"


def test_the_first_request_still_in_flight_is_waited_for_with_the_same_key(preflight, fake_api):
    in_flight = (409, {"code": "request_in_flight", "detail": "Still working on it."})
    fake_api.script(DEPLOYMENTS, in_flight, CREATED)
    assert deploy(preflight).code == 0
    assert len({s.headers["idempotency-key"] for s in fake_api.requests_to(DEPLOYMENTS)}) == 1


def test_a_first_request_still_in_flight_is_waited_for_as_long_as_retry_after_says(
    preflight, fake_api
):
    in_flight = (
        409,
        {"code": "request_in_flight", "detail": "Still working."},
        {"Retry-After": "3"},
    )
    fake_api.script(DEPLOYMENTS, DROP, in_flight, CREATED)
    outcome = deploy(preflight)
    assert (outcome.code, outcome.out) == (0, "7\n")
    assert outcome.sleeps == pytest.approx([0.5, 3.0], rel=0.1)
    assert len({s.headers["idempotency-key"] for s in fake_api.requests_to(DEPLOYMENTS)}) == 1


def test_a_first_request_in_flight_through_every_retry_is_exit_9_not_a_conflict(
    preflight, fake_api
):
    fake_api.script(DEPLOYMENTS, (409, {"code": "request_in_flight", "detail": "Still working."}))
    outcome = deploy(preflight, "--retries", "2")
    assert outcome.code == 9
    assert len(fake_api.requests_to(DEPLOYMENTS)) == 3


def test_a_body_over_the_limit_is_not_retried(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, (413, {"code": "request_too_large", "detail": "Too large."}))
    outcome = deploy(preflight)
    assert outcome.code == 3
    assert len(fake_api.requests_to(DEPLOYMENTS)) == 1
    assert outcome.err.startswith("preflight: 413 request_too_large: Too large.")


@pytest.mark.parametrize(
    ("answer", "exit_code"),
    [
        ((409, {"code": "environment_busy", "detail": "production is busy."}), 7),
        ((412, {"code": "gate_closed", "detail": "Closed.", "reasons": []}), 8),
    ],
)
def test_a_busy_environment_or_a_closed_gate_is_not_retried_by_the_command(
    preflight, fake_api, answer, exit_code
):
    """The server keeps neither answer: the pipeline runs the command again (with the same key)
    when it is ready to, and the deploy is evaluated afresh."""
    fake_api.script(DEPLOYMENTS, answer)
    assert deploy(preflight, "--idempotency-key", "run-7-1-deploy").code == exit_code
    assert len(fake_api.requests_to(DEPLOYMENTS)) == 1


def test_retry_after_is_honoured_on_429(preflight, fake_api):
    fake_api.script(
        DEPLOYMENTS, (429, {"code": "throttled", "detail": "Slow down."}, {"Retry-After": "5"})
    )
    fake_api.script(DEPLOYMENTS, CREATED)
    outcome = deploy(preflight)
    assert outcome.code == 0
    assert outcome.sleeps == [5.0]  # not the 0.5 s the backoff alone would wait


def test_refusals_are_not_retried(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, (403, {"code": "permission_denied", "detail": "No."}))
    outcome = deploy(preflight)
    assert outcome.code == 4
    assert len(fake_api.requests_to(DEPLOYMENTS)) == 1
    assert outcome.sleeps == []


def test_a_server_that_keeps_failing_ends_with_exit_9_after_the_retries(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, (503, "<html>Service Unavailable</html>"))
    outcome = deploy(preflight, "--retries", "2")
    assert outcome.code == 9
    assert len(fake_api.requests_to(DEPLOYMENTS)) == 3
    assert "preflight: 503 http_503: <html>Service Unavailable</html>" in outcome.err


def test_an_unreachable_server_ends_with_exit_9_naming_the_address(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, DROP)
    outcome = deploy(preflight, "--retries", "1")
    assert outcome.code == 9
    assert f"POST {fake_api.url}/api/v1{DEPLOYMENTS} failed after 2 attempt(s)" in outcome.err


def test_requests_carry_the_bearer_token_and_ask_for_json(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, CREATED)
    preflight("deploy", "shop", "1.0.0", "production", token="pf_secret")
    headers = fake_api.requests_to(DEPLOYMENTS)[0].headers
    assert headers["authorization"] == "Bearer pf_secret"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://preflight.example.com", "https://preflight.example.com/api/v1"),
        ("https://preflight.example.com/", "https://preflight.example.com/api/v1"),
        ("http://ci.local:8000/api/v1/", "http://ci.local:8000/api/v1"),
        ("https://example.com/preflight", "https://example.com/preflight/api/v1"),
    ],
)
def test_the_url_names_the_site_or_its_api(given, root):
    assert api_root(given) == root


@pytest.mark.parametrize("bad", ["ftp://example.com", "example.com", "file:///etc/passwd"])
def test_other_schemes_are_refused(bad):
    with pytest.raises(UsageError, match="http"):
        api_root(bad)


def test_path_segments_are_quoted_so_a_version_stays_one_segment():
    assert path("projects", "shop", "releases", "1.0.0+build/7", "gate") == (
        "/projects/shop/releases/1.0.0%2Bbuild%2F7/gate/"
    )


def test_an_error_reads_as_one_line_with_every_field():
    error = ApiError(
        400,
        {
            "code": "invalid",
            "detail": "Some fields are not valid.",
            "fields": {"git_sha": ["This field is required."], "notes": {"0": ["Too long."]}},
        },
    )
    assert error.one_line() == (
        "400 invalid: Some fields are not valid. "
        "(git_sha: This field is required.; notes.0: Too long.)"
    )


def test_a_client_without_a_token_is_a_usage_error():
    with pytest.raises(UsageError, match="PREFLIGHT_TOKEN"):
        Client("http://127.0.0.1:1", "")


def test_a_redirect_is_not_followed_and_says_what_to_configure(preflight, fake_api):
    fake_api.script(DEPLOYMENTS, (301, "", {"Location": "https://preflight.example.com/x"}))
    outcome = deploy(preflight)
    assert outcome.code == 3
    assert outcome.err == (
        "preflight: 301 redirected: Preflight answered with a redirect to "
        "https://preflight.example.com/x; set PREFLIGHT_URL to the address Preflight is served at.\n"
    )
    assert len(fake_api.seen) == 1  # the token went nowhere else
