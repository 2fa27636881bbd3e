"""Each command: the request it sends, what it prints and its exit code, against a scripted
fake API (the end-to-end tests run the same commands against Preflight itself)."""

from __future__ import annotations

import json

import pytest

from .fake_api import DROP

GATE = "/projects/shop/releases/1.0.0/gate/"
CLOSED = {
    "allowed": False,
    "score": "54.5",
    "min_score": "80.0",
    "blockers": [
        {"check": "DS-001", "title": "Deploy script", "severity": "critical", "status": "fail"}
    ],
    "approvals": {"required": 2, "granted": 0, "rejected": 0},
    "reasons": [
        {"code": "score_below_minimum", "message": "Score 54.5 is below 80.0."},
        {"code": "approvals_missing", "message": "2 more approvals needed."},
    ],
}
OPEN = {
    "allowed": True,
    "score": "92.0",
    "min_score": "80.0",
    "blockers": [],
    "approvals": {"required": 2, "granted": ["ana", "ben"], "rejected": []},
    "reasons": [],
}


def gate(preflight, *extra):
    return preflight("gate", "shop", "1.0.0", "production", *extra)


def test_release_sends_version_commit_and_notes_and_says_whether_it_was_new(preflight, fake_api):
    route = "/projects/shop/releases/"
    fake_api.script(route, (201, {"version": "1.0.0", "git_sha": "abc1234"}))
    first = preflight("release", "shop", "1.0.0", "--git-sha", "abc1234", "--notes", "Hi")
    fake_api.answers["/api/v1" + route].clear()
    fake_api.script(route, (200, {"version": "1.0.0", "git_sha": "abc1234"}))
    again = preflight("release", "shop", "1.0.0", "--git-sha", "abc1234")
    assert fake_api.requests_to(route)[0].body == {
        "version": "1.0.0",
        "git_sha": "abc1234",
        "notes": "Hi",
    }
    assert (first.code, first.out) == (0, "Registered shop 1.0.0 (abc1234).\n")
    assert (again.code, again.out) == (0, "shop 1.0.0 was already registered for abc1234.\n")


def test_release_with_another_commit_is_a_conflict_exit_6(preflight, fake_api):
    fake_api.script(
        "/projects/shop/releases/",
        (409, {"code": "version_conflict", "detail": "Version 1.0.0 is already registered."}),
    )
    outcome = preflight("release", "shop", "1.0.0", "--git-sha", "fff")
    assert outcome.code == 6
    assert outcome.err == "preflight: 409 version_conflict: Version 1.0.0 is already registered.\n"


def test_bad_input_prints_every_field_message_on_one_line_exit_3(preflight, fake_api):
    fake_api.script(
        "/projects/shop/releases/",
        (
            400,
            {
                "code": "invalid",
                "detail": "The input is not valid.",
                "fields": {"git_sha": ["Enter a commit hash."], "version": ["Too long."]},
            },
        ),
    )
    outcome = preflight("release", "shop", "1.0.0", "--git-sha", "zzz")
    assert outcome.code == 3
    assert outcome.err.splitlines() == [
        "preflight: 400 invalid: The input is not valid. "
        "(git_sha: Enter a commit hash.; version: Too long.)"
    ]


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [(401, "not_authenticated", 4), (403, "permission_denied", 4), (404, "not_found", 5)],
)
def test_refusals_have_their_exit_codes(preflight, fake_api, status, code, exit_code):
    fake_api.script(GATE, (status, {"code": code, "detail": "Refused."}))
    outcome = gate(preflight)
    assert outcome.code == exit_code
    assert outcome.err == f"preflight: {status} {code}: Refused.\n"


def test_run_prints_the_run_id(preflight, fake_api):
    fake_api.script("/projects/shop/releases/1.0.0/runs/", (202, {"id": 12, "status": "queued"}))
    outcome = preflight("run", "shop", "1.0.0", "staging")
    assert (outcome.code, outcome.out) == (0, "12\n")
    assert fake_api.requests_to("/projects/shop/releases/1.0.0/runs/")[0].body == {
        "environment": "staging"
    }


@pytest.mark.parametrize(("final", "exit_code"), [("finished", 0), ("error", 1)])
def test_run_wait_polls_the_run_until_it_ends(preflight, fake_api, final, exit_code):
    fake_api.script("/projects/shop/releases/1.0.0/runs/", (202, {"id": 12, "status": "queued"}))
    fake_api.script(
        "/runs/12/",
        (200, {"id": 12, "status": "running", "score": None}),
        (200, {"id": 12, "status": final, "score": "87.5", "results": []}),
    )
    outcome = preflight("run", "shop", "1.0.0", "staging", "--wait")
    assert outcome.code == exit_code
    assert outcome.out == f"Run 12 {final}: score 87.5.\n"
    assert len(fake_api.requests_to("/runs/12/")) == 2


def test_run_wait_gives_up_at_the_timeout_with_exit_10(preflight, fake_api):
    fake_api.script("/projects/shop/releases/1.0.0/runs/", (202, {"id": 12, "status": "queued"}))
    fake_api.script("/runs/12/", (200, {"id": 12, "status": "running"}))
    outcome = preflight("run", "shop", "1.0.0", "staging", "--wait", "--timeout", "30")
    assert outcome.code == 10
    assert sum(outcome.sleeps) == pytest.approx(30)
    assert "run 12 still running after 30s" in outcome.err


@pytest.mark.parametrize(
    ("given", "sent"), [("passed", "pass"), ("failed", "fail"), ("warn", "warn")]
)
def test_report_sends_the_check_result(preflight, fake_api, given, sent):
    route = "/projects/shop/check-results/"
    fake_api.script(route, (201, {"id": 3}))
    outcome = preflight(
        "report", "shop", "1.0.0", "staging", "CI-001", "--status", given,
        "--detail", "312 tests", "--evidence-url", "https://ci.example.com/1",
    )  # fmt: skip
    assert outcome.code == 0
    assert fake_api.requests_to(route)[0].body == {
        "version": "1.0.0",
        "environment": "staging",
        "check": "CI-001",
        "status": sent,
        "detail": "312 tests",
        "url": "https://ci.example.com/1",
    }


def test_an_open_gate_exits_0(preflight, fake_api):
    fake_api.script(GATE, (200, OPEN))
    outcome = gate(preflight)
    assert outcome.code == 0
    assert outcome.out == (
        "Gate open: shop 1.0.0 → production: score 92.0 (min 80.0), approvals 2/2.\n"
    )
    assert fake_api.requests_to(GATE)[0].path.endswith("?environment=production")


def test_a_closed_gate_exits_1_printing_every_reason(preflight, fake_api):
    fake_api.script(GATE, (200, CLOSED))
    outcome = gate(preflight)
    assert outcome.code == 1
    assert outcome.out.splitlines() == [
        "Gate closed: shop 1.0.0 → production: score 54.5 (min 80.0), approvals 0/2. 2 reason(s):",
        "  - Score 54.5 is below 80.0.",
        "  - 2 more approvals needed.",
    ]
    assert len(fake_api.requests_to(GATE)) == 1  # no --wait: asked once


def test_gate_wait_polls_with_backoff_until_it_opens(preflight, fake_api):
    fake_api.script(GATE, (200, CLOSED), (200, CLOSED), (200, CLOSED), (200, OPEN))
    outcome = gate(preflight, "--wait", "--interval", "1", "--max-interval", "3")
    assert outcome.code == 0
    assert outcome.out.startswith("Gate open")
    assert len(fake_api.requests_to(GATE)) == 4
    # 1, 2, then 3 (the cap), each shortened by at most 10 % of jitter
    caps = [1, 2, 3]
    assert len(outcome.sleeps) == 3
    assert all(0.9 * cap <= s <= cap for s, cap in zip(outcome.sleeps, caps, strict=True))
    assert outcome.err.count("Gate closed (2 reason(s))") == 3


def test_gate_wait_times_out_exit_1_with_every_reason(preflight, fake_api):
    fake_api.script(GATE, (200, CLOSED))
    outcome = gate(preflight, "--wait", "--timeout", "60")
    assert outcome.code == 1
    assert sum(outcome.sleeps) == pytest.approx(60)
    assert max(outcome.sleeps) <= 30
    assert "  - Score 54.5 is below 80.0." in outcome.out
    assert "the gate stayed closed for 60s" in outcome.err


def test_gate_wait_rides_out_an_unreachable_server(preflight, fake_api):
    fake_api.script(GATE, DROP, DROP, DROP, DROP, DROP, DROP, (200, OPEN))
    outcome = gate(preflight, "--wait", "--retries", "2")
    assert outcome.code == 0
    assert "Preflight is unreachable" in outcome.err


def test_gate_wait_rides_out_5xx_answers_beyond_the_retries(preflight, fake_api):
    failing = (503, {"code": "unavailable", "detail": "Upstream restarting."})
    fake_api.script(GATE, failing, failing, failing, failing, (200, OPEN))
    outcome = gate(preflight, "--wait", "--retries", "1")
    assert outcome.code == 0
    assert len(fake_api.requests_to(GATE)) == 5


def test_gate_wait_that_loses_the_server_at_the_end_exits_9(preflight, fake_api):
    fake_api.script(GATE, (200, CLOSED), DROP)
    outcome = gate(preflight, "--wait", "--timeout", "10", "--retries", "0")
    assert outcome.code == 9
    assert "failed after 1 attempt(s)" in outcome.err


def test_run_wait_rides_out_an_unreachable_server(preflight, fake_api):
    fake_api.script("/projects/shop/releases/1.0.0/runs/", (202, {"id": 12, "status": "queued"}))
    fake_api.script(
        "/runs/12/", DROP, DROP, (200, {"id": 12, "status": "finished", "score": "90.0"})
    )
    outcome = preflight("run", "shop", "1.0.0", "staging", "--wait", "--retries", "0")
    assert outcome.code == 0
    assert "Run 12 is unreachable" in outcome.err


def test_gate_wait_stops_at_once_on_a_refusal(preflight, fake_api):
    fake_api.script(GATE, (404, {"code": "not_found", "detail": "No release 1.0.0 in shop."}))
    outcome = gate(preflight, "--wait")
    assert outcome.code == 5
    assert len(fake_api.requests_to(GATE)) == 1


def test_json_prints_the_api_answer(preflight, fake_api):
    fake_api.script(GATE, (200, CLOSED))
    outcome = gate(preflight, "--json")
    assert outcome.code == 1
    assert json.loads(outcome.out) == CLOSED


def test_deploy_sends_the_strategy_and_prints_only_the_id(preflight, fake_api):
    route = "/projects/shop/deployments/"
    fake_api.script(route, (201, {"id": 41, "status": "in_progress"}))
    outcome = preflight("deploy", "shop", "1.0.0", "production", "--strategy", "canary")
    assert (outcome.code, outcome.out) == (0, "41\n")
    assert fake_api.requests_to(route)[0].body == {
        "version": "1.0.0",
        "environment": "production",
        "strategy": "canary",
    }


def test_deploy_into_a_busy_environment_exits_7_naming_what_holds_it(preflight, fake_api):
    holds = [
        {"code": "deployment_in_progress", "message": "Deployment 40 is in progress."},
        {"code": "locked", "message": "Locked by root: database upgrade."},
    ]
    fake_api.script(
        "/projects/shop/deployments/",
        (
            409,
            {
                "code": "environment_busy",
                "detail": "production is busy: Deployment 40 is in progress.",
                "holds": holds,
                "holder": "ci",
            },
        ),
    )
    outcome = preflight("deploy", "shop", "1.0.0", "production")
    assert outcome.code == 7
    assert outcome.out == ""
    # The detail names the first hold already; the others follow, one a line.
    assert outcome.err.splitlines() == [
        "preflight: 409 environment_busy: production is busy: Deployment 40 is in progress.",
        "  - Locked by root: database upgrade.",
    ]


def test_status_shows_each_environment_of_the_release(preflight, fake_api):
    fake_api.script(
        "/projects/shop/releases/1.0.0/",
        (
            200,
            {
                "project": "shop",
                "version": "1.0.0",
                "git_sha": "abc1234def5678",
                "environments": [
                    {"environment": "staging", "latest_run": {"id": 3, "status": "finished", "score": 91.5}, "latest_deployment": {"id": 8, "status": "verified"}, "approvals": 1, "rejections": 0, "stale_approvals": []},
                    {"environment": "production", "latest_run": None, "latest_deployment": None, "approvals": 1, "rejections": 0, "stale_approvals": [{"approver": "ana", "reason": "score 92.0 → 88.5; DS-003 pass → fail"}]},
                ],
            },
        ),
    )  # fmt: skip
    everything = preflight("status", "shop", "1.0.0")
    production = preflight("status", "shop", "1.0.0", "production")
    assert everything.out.splitlines() == [
        "shop 1.0.0 (abc1234def56)",
        "  staging: run 3 finished (score 91.5); deployment 8 verified; approvals 1, rejections 0",
        "  production: no run; not deployed; approvals 1, rejections 0",
        "    approval by ana is stale: score 92.0 → 88.5; DS-003 pass → fail",
    ]
    assert production.out.splitlines()[1:] == everything.out.splitlines()[2:]


def test_deploy_through_a_closed_gate_exits_8_with_the_reasons(preflight, fake_api):
    fake_api.script(
        "/projects/shop/deployments/",
        (
            412,
            {
                "code": "gate_closed",
                "detail": "The gate for 1.0.0 → production is closed.",
                "reasons": CLOSED["reasons"],
            },
        ),
    )
    outcome = preflight("deploy", "shop", "1.0.0", "production")
    assert outcome.code == 8
    assert outcome.err.splitlines()[1:] == [
        "  - Score 54.5 is below 80.0.",
        "  - 2 more approvals needed.",
    ]


def test_finish_and_rollback(preflight, fake_api):
    fake_api.script("/deployments/41/finish/", (200, {"id": 41, "status": "succeeded"}))
    fake_api.script("/deployments/41/rollback/", (201, {"id": 42, "status": "in_progress"}))
    finished = preflight("finish", "41", "succeeded")
    rolled = preflight("rollback", "41", "--reason", "Checkout errors")
    assert finished.code == 0
    assert finished.out.startswith("Deployment 41 succeeded.")
    assert fake_api.requests_to("/deployments/41/finish/")[0].body == {"status": "succeeded"}
    assert (rolled.code, rolled.out) == (0, "42\n")
    assert fake_api.requests_to("/deployments/41/rollback/")[0].body == {
        "reason": "Checkout errors"
    }


def test_connection_options_work_before_and_after_the_command(preflight, fake_api):
    fake_api.script(GATE, (200, OPEN))
    before = preflight("--json", "--token", "pf_before", "gate", "shop", "1.0.0", "production")
    after = preflight("gate", "shop", "1.0.0", "production", "--json", "--token", "pf_after")
    assert before.code == after.code == 0
    assert json.loads(before.out) == json.loads(after.out) == OPEN
    tokens = [s.headers["authorization"] for s in fake_api.requests_to(GATE)]
    assert tokens == ["Bearer pf_before", "Bearer pf_after"]


@pytest.mark.parametrize(
    "argv",
    [
        ["gate", "shop", "1.0.0"],  # no environment
        ["report", "shop", "1.0.0", "staging", "CI-001", "--status", "maybe"],
        ["finish", "41", "done"],
        ["deploy", "shop", "1.0.0", "production", "--strategy", "yolo"],
        ["rollback", "41"],  # no reason
        ["gate", "shop", "1.0.0", "production", "--wait", "--timeout", "0"],
    ],
)
def test_bad_arguments_exit_2_without_a_request(preflight, fake_api, argv, capsys):
    assert preflight(*argv).code == 2
    assert fake_api.seen == []


def test_missing_configuration_exits_2_saying_what_to_set(preflight, fake_api):
    outcome = preflight("gate", "shop", "1.0.0", "production", token="")
    assert outcome.code == 2
    assert outcome.err == "preflight: No token: set PREFLIGHT_TOKEN or pass --token.\n"
    assert fake_api.seen == []
