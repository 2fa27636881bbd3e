"""The review's run of 1.0.0 through a real Celery worker (a subprocess on the throwaway Redis),
on the project as it stood at the review: the worker's checks, judging the records as of the
review's moment, reproduce the review's risk summary."""

from __future__ import annotations

import urllib.request

import pytest

from checks.evaluation import evaluate
from demo import loader

from ..checks.test_worker import (  # noqa: F401 - the fixtures that start and drain workers
    _workers_idle_before_teardown,
    wait_for,
    workers,
)
from .test_demo import REVIEW_GAPS, REVIEW_RISK_SUMMARY, REVIEW_TOTALS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_running_the_review_reproduces_its_risk_summary(
    workers,  # noqa: F811 - the fixture imported above
    live_server,
    monkeypatch,
):
    # The worker's http checks probe Preflight's own health endpoints, served by this test.
    monkeypatch.setenv("PREFLIGHT_BASE_URL", live_server.url)
    # Its first request loads the site; the checks' latency budgets should time the endpoints.
    with urllib.request.urlopen(f"{live_server.url}/health/live", timeout=30) as answer:
        assert answer.status == 200
    demo = loader.as_at_review(password="demo-pw")
    workers()
    run = loader.review_run(demo)  # queued when it commits, for the review's moment

    def done() -> bool:
        run.refresh_from_db()
        return run.status in ("finished", "error")

    wait_for(done, seconds=120)
    assert run.status == "finished", run.error
    assert run.attempts == 1
    assert run.created_at == demo.review_at
    evaluation = evaluate(run)
    totals = evaluation.risk.totals
    assert ("TOTAL", *totals.counts.values(), totals.total) == REVIEW_TOTALS
    by_section = {(r.check.section, r.severity) for r in evaluation.results if r.status != "pass"}
    assert {s for s, _ in by_section} == {row[0] for row in REVIEW_RISK_SUMMARY}
    not_passing = {r.check.code: r.severity for r in evaluation.results if r.status != "pass"}
    assert not_passing == REVIEW_GAPS
    results = {r.check.code: r.result for r in evaluation.results}
    assert results["DS-005"].detail.startswith("No tag v1.0.0 in the repository")
    assert "deploy.sh:16: sleep 5 (5 s)" in results["DS-004"].detail
    assert results["MON-S2"].status == "pass"
    assert live_server.url in results["MON-S2"].evidence_url
