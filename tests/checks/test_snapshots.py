"""When the evidence an approval was given on has moved for the worse (checks.snapshots): a lower
score, or a check that was pass or waived that no longer is. Pure functions, plain values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from checks.snapshots import Snapshot, describe, moved, stale_if


def snap(score: str | None, **statuses: str) -> Snapshot:
    return Snapshot(
        score=None if score is None else Decimal(score),
        statuses={code.replace("_", "-"): status for code, status in statuses.items()},
    )


def test_unchanged_evidence_has_not_moved():
    seen = snap("92.0", DS_001="pass", DS_002="waived", DS_003="warn", DS_004="fail")
    assert moved(seen, seen) == []


def test_a_lower_score_is_named_with_both_numbers():
    assert moved(snap("92.0", A_1="warn"), snap("88.5", A_1="fail")) == ["score 92.0 → 88.5"]


def test_the_score_and_the_check_that_moved_are_named_together():
    changes = moved(snap("92.0", DS_003="pass"), snap("88.5", DS_003="fail"))
    assert describe(changes) == "score 92.0 → 88.5; DS-003 pass → fail"


@pytest.mark.parametrize("now", ["fail", "error", "pending", "warn", "skipped", "waived"])
def test_a_passing_check_that_is_anything_else_now_has_moved(now):
    # Even with the same score (a waiver credits as much as a pass), the approver saw it pass.
    assert moved(snap("100.0", C_1="pass"), snap("100.0", C_1=now)) == [f"C-1 pass → {now}"]


@pytest.mark.parametrize(("now", "is_moved"), [("pass", False), ("waived", False), ("fail", True)])
def test_a_waived_check_may_pass_or_stay_waived(now, is_moved):
    changes = moved(snap("100.0", C_1="waived"), snap("100.0", C_1=now))
    assert changes == ([f"C-1 waived → {now}"] if is_moved else [])


def test_a_check_that_passed_and_is_no_longer_evaluated_has_moved():
    assert moved(snap("100.0", C_1="pass", C_2="pass"), snap("100.0", C_2="pass")) == [
        "C-1 pass → not evaluated"
    ]


def test_better_evidence_has_not_moved():
    seen = snap("80.0", C_1="warn", C_2="fail", C_3="waived", C_4="pending")
    now = snap("95.5", C_1="pass", C_2="warn", C_3="pass", C_4="pass", NEW_1="pass")
    assert moved(seen, now) == []


def test_checks_that_were_not_passing_are_judged_by_the_score_alone():
    # warn → fail lowers the score; that is what is named.
    assert moved(snap("90.0", C_1="warn"), snap("85.0", C_1="fail")) == ["score 90.0 → 85.0"]


def test_a_score_that_disappears_has_moved():
    assert moved(snap("90.0"), snap(None)) == ["score 90.0 → none"]


def test_evidence_where_the_approver_saw_none_has_moved():
    # An approval on a run without checks, or recorded without its evidence, is not for a run
    # that has some.
    assert moved(snap(None), snap("100.0", C_1="pass")) == ["score none → 100.0"]
    assert moved(snap(None), snap(None)) == []


def test_many_moved_checks_are_named_up_to_five_and_counted():
    seen = snap("100.0", **{f"C_{n}": "pass" for n in range(1, 9)})
    now = snap("100.0", **{f"C_{n}": "fail" for n in range(1, 9)})
    changes = moved(seen, now)
    assert changes[:5] == [f"C-{n} pass → fail" for n in range(1, 6)]
    assert changes[5] == "3 more check(s) no longer pass"
    assert len(changes) == 6


def test_the_fingerprint_changes_with_the_run_the_score_and_each_status():
    base = snap("92.0", A_1="pass", A_2="fail")
    assert base.fingerprint(1) == snap("92.0", A_2="fail", A_1="pass").fingerprint(1)
    others = {
        base.fingerprint(2),
        snap("92.1", A_1="pass", A_2="fail").fingerprint(1),
        snap("92.0", A_1="waived", A_2="fail").fingerprint(1),
        snap("92.0", A_1="pass").fingerprint(1),
    }
    assert base.fingerprint(1) not in others
    assert len(others) == 4


def test_a_stored_snapshot_reads_the_approvals_json():
    stored = Snapshot.stored(Decimal("92.0"), {"DS-003": "pass"})
    assert moved(stored, snap("92.0", DS_003="error")) == ["DS-003 pass → error"]
    assert Snapshot.stored(None, {}).statuses == {}


def test_stale_if_names_only_the_approvals_the_change_would_make_stale():
    then = snap("80.0", M_1="pending", C_1="pass")
    approvals = [
        ("ana", snap("100.0", M_1="pass", C_1="pass")),  # saw M-1 pass: moves
        ("ben", snap("75.0", M_1="fail", C_1="pass")),  # saw worse: still good
    ]
    assert stale_if(approvals, then) == [("ana", "score 100.0 → 80.0; M-1 pass → pending")]
    assert stale_if([], then) == []
