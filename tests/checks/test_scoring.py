"""checks.scoring: the formula of PRODUCT.md, status by status, and its properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import scoring
from checks.scoring import CategoryInfo, Scored, risk_summary, score

ONE = [CategoryInfo("a", "A", 100)]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pass", Decimal("100.0")),
        ("waived", Decimal("100.0")),
        ("warn", Decimal("50.0")),
        ("fail", Decimal("0.0")),
        ("error", Decimal("0.0")),
        ("pending", Decimal("0.0")),
    ],
)
def test_each_status_earns_its_credit(status, expected):
    result = score(ONE, [Scored("a", "high", status)])
    assert result.overall == expected
    assert result.categories[0].score == expected


def test_skipped_checks_are_left_out_of_their_category():
    result = score(ONE, [Scored("a", "critical", "skipped"), Scored("a", "low", "pass")])
    assert result.overall == Decimal("100.0")
    assert result.categories[0].checks == 1
    assert result.categories[0].possible == 1


def test_severity_weights_decide_a_category_score():
    # critical fail (0 of 8) + high pass (4) + medium warn (1 of 2) + low pass (1): 6 of 15
    results = [
        Scored("a", "critical", "fail"),
        Scored("a", "high", "pass"),
        Scored("a", "medium", "warn"),
        Scored("a", "low", "pass"),
    ]
    category = score(ONE, results).categories[0]
    assert category.earned == Decimal(6)
    assert category.possible == 15
    assert category.score == Decimal("40.0")


def test_category_scores_round_half_up_to_one_decimal():
    # 4 critical + high + medium + 2 low = 40; a low warn earns 0.5: 100 × 0.5 / 40 = 1.25
    results = [Scored("a", "critical", "fail")] * 4 + [
        Scored("a", "high", "fail"),
        Scored("a", "medium", "fail"),
        Scored("a", "low", "fail"),
        Scored("a", "low", "warn"),
    ]
    assert score(ONE, results).categories[0].score == Decimal("1.3")


def test_the_overall_score_rounds_half_up_too():
    # 100 × 1 / 16 = 6.25: half-up gives 6.3 where banker's rounding would give 6.2
    categories = [CategoryInfo("a", "A", 1), CategoryInfo("b", "B", 15)]
    result = score(categories, [Scored("a", "low", "pass"), Scored("b", "low", "fail")])
    assert result.overall == Decimal("6.3")


def test_a_category_without_applicable_checks_is_left_out_and_weights_renormalise():
    categories = [
        CategoryInfo("a", "A", 60),
        CategoryInfo("b", "B", 30),
        CategoryInfo("c", "C", 10),
    ]
    results = [
        Scored("a", "high", "pass"),
        Scored("b", "high", "fail"),
        Scored("c", "high", "skipped"),
    ]
    result = score(categories, results)
    assert result.weight_total == 90
    assert result.categories[2].score is None
    assert not result.categories[2].counted
    # 60 × 100 / 90 = 66.67 → 66.7, not 60 × 100 / 100 = 60
    assert result.overall == Decimal("66.7")
    assert result.contribution(result.categories[2]) is None
    assert result.contribution(result.categories[0]) == Decimal(6000) / 90


def test_no_applicable_check_at_all_gives_no_score():
    categories = [CategoryInfo("a", "A", 50), CategoryInfo("b", "B", 50)]
    assert score(categories, []).overall is None
    assert score(categories, [Scored("a", "high", "skipped")]).overall is None


def test_pending_counts_as_nothing_earned_fail_closed():
    results = [Scored("a", "critical", "pass"), Scored("a", "critical", "pending")]
    assert score(ONE, results).overall == Decimal("50.0")
    assert risk_summary(results, ["a"]).totals.counts["critical"] == 1


def test_a_result_for_an_unknown_category_is_a_bug_not_a_silent_zero():
    with pytest.raises(ValueError, match="unknown category"):
        score(ONE, [Scored("zzz", "low", "pass")])


def test_risk_summary_counts_fail_error_and_pending_by_group_and_severity():
    results = [
        Scored("a", "critical", "fail"),
        Scored("a", "critical", "error"),
        Scored("a", "high", "pending"),
        Scored("b", "low", "fail"),
        # not counted: passing, waived, warned or not applicable
        Scored("a", "critical", "pass"),
        Scored("b", "medium", "waived"),
        Scored("b", "medium", "warn"),
        Scored("b", "high", "skipped"),
    ]
    summary = risk_summary(results, ["a", "b", "c"])
    rows = {row.group: row for row in summary.rows}
    assert [row.group for row in summary.rows] == ["a", "b", "c"]
    assert rows["a"].counts == {"critical": 2, "high": 1, "medium": 0, "low": 0}
    assert rows["b"].counts == {"critical": 0, "high": 0, "medium": 0, "low": 1}
    assert rows["c"].total == 0
    assert summary.totals.as_dict() == {
        "category": "TOTAL",
        "critical": 2,
        "high": 1,
        "medium": 0,
        "low": 1,
        "total": 4,
    }


def test_risk_summary_groups_by_any_key():
    results = [Scored("a", "high", "fail"), Scored("b", "high", "fail")]
    summary = risk_summary(results, ["Rollback"], group_of=lambda r: "Rollback")
    assert summary.rows[0].counts["high"] == 2


# Property-based: the formula's invariants over random catalogs and outcomes.

STATUSES = ["pass", "waived", "warn", "fail", "error", "pending", "skipped"]
KEYS = ["a", "b", "c", "d", "e", "f"]

categories_st = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=6).map(
    lambda weights: [CategoryInfo(KEYS[i], KEYS[i].upper(), w) for i, w in enumerate(weights)]
)


@st.composite
def catalogs(draw):  # type: ignore[no-untyped-def]
    categories = draw(categories_st)
    keys = [c.key for c in categories]
    results = draw(
        st.lists(
            st.builds(
                Scored,
                category=st.sampled_from(keys),
                severity=st.sampled_from(scoring.SEVERITIES),
                status=st.sampled_from(STATUSES),
            ),
            max_size=40,
        )
    )
    return categories, results


@settings(max_examples=150, deadline=None)
@given(catalogs())
def test_the_score_is_between_0_and_100(catalog):
    categories, results = catalog
    result = score(categories, results)
    if result.overall is not None:
        assert Decimal(0) <= result.overall <= Decimal(100)
    for category in result.categories:
        if category.score is not None:
            assert Decimal(0) <= category.score <= Decimal(100)


@settings(max_examples=150, deadline=None)
@given(catalogs(), st.data())
def test_a_failing_check_that_passes_never_lowers_the_score(catalog, data):
    categories, results = catalog
    failing = [i for i, r in enumerate(results) if r.status in scoring.NON_PASSING]
    if not failing:
        return
    index = data.draw(st.sampled_from(failing))
    fixed = list(results)
    fixed[index] = Scored(results[index].category, results[index].severity, "pass")
    before, after = score(categories, results), score(categories, fixed)
    if before.overall is not None:
        assert after.overall is not None
        assert after.overall >= before.overall
    assert risk_summary(fixed, KEYS).totals.total == risk_summary(results, KEYS).totals.total - 1


@settings(max_examples=150, deadline=None)
@given(catalogs(), st.integers(min_value=0, max_value=100))
def test_weights_are_renormalised_over_the_categories_that_count(catalog, extra_weight):
    categories, results = catalog
    result = score(categories, results)
    counted = [c for c in result.categories if c.score is not None]
    assert result.weight_total == sum(c.weight for c in counted)
    if result.weight_total:
        expected = scoring.round1(
            sum((c.weight * c.score for c in counted if c.score is not None), Decimal(0))
            / result.weight_total
        )
        assert result.overall == expected
        contributions = [result.contribution(c) for c in counted]
        exact = sum((c.weight * c.score for c in counted if c.score is not None), Decimal(0))
        parts = sum((c for c in contributions if c is not None), Decimal(0))
        assert abs(parts - exact / result.weight_total) < Decimal("1e-20")
    else:
        assert result.overall is None
    # A category with nothing applicable changes nothing, whatever its weight.
    with_empty = score([*categories, CategoryInfo("empty", "Empty", extra_weight)], results)
    assert with_empty.overall == result.overall


@settings(max_examples=100, deadline=None)
@given(catalogs())
def test_the_risk_summary_rows_add_up_to_the_totals(catalog):
    categories, results = catalog
    summary = risk_summary(results, [c.key for c in categories])
    for severity in scoring.SEVERITIES:
        assert sum(row.counts[severity] for row in summary.rows) == summary.totals.counts[severity]
    assert summary.totals.total == sum(1 for r in results if r.status in scoring.NON_PASSING)


def test_the_minimum_score_is_met_at_the_minimum_itself():
    assert scoring.meets_minimum(Decimal("80.0"), Decimal(80))
    assert not scoring.meets_minimum(Decimal("79.9"), Decimal(80))
