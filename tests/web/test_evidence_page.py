"""The release page and evidence: each result shows who produced it; an approval made stale by a
change inside the same run says what moved; the creator's tick of a critical check waits for a
second person, who attests it from the checklist; approving needs the evidence the page showed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from checks.models import Attestation, CheckResult, Waiver
from checks.services.results import ci_result_record
from releases.models import Approval

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
PAGE = "/projects/shop/releases/1.0.0/staging/"


def stale_line(html: str) -> str:
    found = re.search(r'<ul class="small" id="stale-approvals"><li>(.*?)</li>', html, re.S)
    assert found is not None, "no stale approval on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def page_of(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get(PAGE)
    assert response.status_code == 200
    return response.content.decode()


def test_each_result_shows_its_source(client_of, viewer, approved):
    CheckResult.objects.filter(run=approved.run, check_item=approved.checks["W-001"]).update(
        source="legacy"
    )
    html = page_of(client_of(viewer))
    assert "Source: by dana" in html  # M-001, ticked by the creator (high: counts at once)
    assert "Source: by ben" in html  # C-001
    assert "Source: by the pipeline github-actions" in html  # CI-001
    assert "Source: unknown (recorded before Preflight kept sources)" in html  # W-001


def test_an_approval_is_not_stale_while_the_evidence_holds(client_of, viewer, approved):
    html = page_of(client_of(viewer))
    assert "Yes — the gate is open." in html
    assert 'id="stale-approvals"' not in html
    assert f"on run #{approved.run.pk} at 100.0" in html


def test_unticking_on_the_page_makes_the_approval_stale_naming_the_check(
    client_of, deployer, viewer, approved
):
    response = client_of(deployer).post(
        PAGE + f"checks/{approved.checks['M-001'].pk}/tick", {"ticked": "0"}, **HX
    )
    assert response.status_code == 200
    assert stale_line(response.content.decode()) == (
        "stale Approval by ana is stale: score 100.0 → 77.8; M-001 pass → pending. "
        "It no longer counts."
    )


def test_the_creators_tick_on_the_page_makes_it_stale_and_waits_for_attestation(
    client_of, deployer, approved
):
    critical = approved.checks["C-001"]
    response = client_of(deployer).post(
        PAGE + f"checks/{critical.pk}/tick", {"ticked": "1", "note": "did it myself"}, **HX
    )
    html = response.content.decode()
    assert "C-001 pass → pending" in stale_line(html)
    assert "awaiting attestation" in html
    assert "it counts once another person attests this tick" in html
    assert "Attest C-001" not in html  # not offered to the creator


def test_a_ci_report_makes_the_page_say_so(client_of, viewer, approved, release):
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="fail",
    )
    assert "CI-001 pass → fail" in stale_line(page_of(client_of(viewer)))


def test_revoking_the_waiver_on_the_page_makes_it_stale(client_of, approver2, approved):
    response = client_of(approver2).post(PAGE + f"waivers/{approved.waiver.pk}/revoke", **HX)
    assert response.status_code == 200
    assert "W-001 waived → fail" in stale_line(response.content.decode())


def test_a_waiver_that_ran_out_makes_it_stale_when_the_page_is_read(client_of, viewer, approved):
    past = timezone.now() - timedelta(hours=1)
    Waiver.objects.filter(pk=approved.waiver.pk).update(
        created_at=past - timedelta(days=1), expires_at=past
    )
    assert "W-001 waived → fail" in stale_line(page_of(client_of(viewer)))


# Attesting from the checklist.


@pytest.fixture
def awaiting(client_of, deployer, approved):  # type: ignore[no-untyped-def]
    """The creator ticked the critical C-001 again: it waits for a second person."""
    client_of(deployer).post(PAGE + f"checks/{approved.checks['C-001'].pk}/tick", {"ticked": "1"})
    return approved.checks["C-001"]


def test_a_second_person_attests_from_the_checklist(client_of, approver2, awaiting, approved):
    client = client_of(approver2)
    assert "Attest C-001" in page_of(client)
    response = client.post(PAGE + f"checks/{awaiting.pk}/attest", {"note": "saw the log"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Attested by ben" in html
    assert "Source: by dana, attested by ben" in html
    assert 'id="stale-approvals"' not in html  # the evidence is back to what ana saw
    assert "Yes — the gate is open." in html


def test_the_creator_is_refused_attesting_with_the_reason(client_of, deployer, awaiting):
    response = client_of(deployer).post(PAGE + f"checks/{awaiting.pk}/attest", {}, **HX)
    assert response.status_code == 403
    assert "four-eyes rule" in response.content.decode()
    assert not Attestation.objects.exists()
    assert AuditEvent.objects.filter(action="check.attested", outcome="denied").count() == 1


def test_a_viewer_cannot_attest(client_of, viewer, awaiting):
    assert client_of(viewer).post(PAGE + f"checks/{awaiting.pk}/attest", {}).status_code == 403
    assert not Attestation.objects.exists()


def test_an_attestation_is_withdrawn_from_the_checklist(client_of, approver2, awaiting):
    client = client_of(approver2)
    client.post(PAGE + f"checks/{awaiting.pk}/attest", {})
    attestation = Attestation.objects.get()
    html = page_of(client)
    assert "Withdraw attestation" in html
    response = client.post(PAGE + f"attestations/{attestation.pk}/withdraw", **HX)
    assert response.status_code == 200
    assert "C-001 pass → pending" in stale_line(response.content.decode())
    attestation.refresh_from_db()
    assert attestation.withdrawn_at is not None


# Approving what the page showed.


def _shown(html: str) -> dict[str, str]:
    run = re.search(r'name="run" value="(\d*)"', html)
    evidence = re.search(r'name="evidence" value="([0-9a-f]*)"', html)
    assert run is not None
    assert evidence is not None
    return {"run": run.group(1), "evidence": evidence.group(1)}


def test_approving_from_a_page_whose_evidence_changed_since_is_refused(
    client_of, approver2, approved, release
):
    client = client_of(approver2)
    shown = _shown(page_of(client))
    assert shown["run"] == str(approved.run.pk)
    assert shown["evidence"]
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="fail",
    )
    response = client.post(PAGE + "approvals", {"decision": "approve", **shown}, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "The evidence changed since this page was loaded" in html
    assert not Approval.objects.filter(approver=approver2).exists()
    # The form now carries the evidence as it is: approving it works.
    again = client.post(PAGE + "approvals", {"decision": "approve", **_shown(html)}, **HX)
    assert again.status_code == 200
    assert Approval.objects.get(approver=approver2).evidence["CI-001"] == "fail"
