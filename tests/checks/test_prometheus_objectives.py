"""The objective parser and judge (checks/kinds/prometheus/objectives.py): pure functions."""

from __future__ import annotations

import math

import pytest

from checks.kinds import ConfigError
from checks.kinds.prometheus import objectives as obj


def objective(**fields):  # type: ignore[no-untyped-def]
    raw = {"name": "p95", "query": "vector(1)", **fields}
    return obj.parse_objective(raw, "objectives.0", 0)


def judged(value, baseline=None, samples=10, baseline_samples=10, min_samples=5, **fields):  # type: ignore[no-untyped-def]
    return obj.judge(
        objective(**fields),
        obj.Measurement(value, samples),
        None if baseline is None else obj.Measurement(baseline, baseline_samples),
        min_samples=min_samples,
        no_baseline="no baseline: nothing verified before",
    )


@pytest.mark.parametrize(
    ("text", "value", "baseline", "holds"),
    [
        ("< 0.01", 0.009, None, True),
        ("< 0.01", 0.01, None, False),
        ("<= 0.01", 0.01, None, True),
        ("<=0.3", 0.1 + 0.2, None, True),  # floating-point noise is equality
        ("<0.3", 0.1 + 0.2, None, False),
        ("> 5", 6, None, True),
        (">= 5", 4.9, None, False),
        ("= 0", 0, None, True),
        ("== 1", 1.5, None, False),
        ("<= +10%", 110, 100, True),
        ("<= +10%", 111, 100, False),
        ("< +10%", 110, 100, False),
        (">= -5%", 95, 100, True),
        (">= -5%", 94, 100, False),
        ("<= +50", 150, 100, True),
        ("<= +50", 151, 100, False),
        ("<= -10", 90, 100, True),
        ("<= +10%", 0, 0, True),  # relative to nothing is nothing
        ("<= +10%", 0.001, 0, False),
        ("<= +10%", -0.9, -1, True),  # of the baseline's magnitude
        ("<= 1e-3", 0.0009, None, True),
    ],
)
def test_criteria_compare_a_value_with_a_threshold_or_the_baseline(text, value, baseline, holds):
    assert obj.parse_criterion(text, "pass").holds(value, baseline) is holds


@pytest.mark.parametrize("text", ["0.01", "< ", "<< 1", "~ 1", "< ten", "<= 10%", "< 1%%", 5])
def test_malformed_criteria_are_refused_with_the_field(text):
    with pytest.raises(ConfigError) as refused:
        obj.parse_criterion(text, "objectives.0.pass")
    assert refused.value.field == "objectives.0.pass"


def test_a_bare_percentage_is_refused_as_ambiguous():
    with pytest.raises(ConfigError, match=r"write \+10% or -10%"):
        obj.parse_criterion("<= 10%", "pass")


def test_criteria_print_as_they_read():
    assert str(obj.parse_criterion("<=+10%", "pass")) == "<= +10%"
    assert str(obj.parse_criterion(">=-5", "pass")) == ">= -5"
    assert str(obj.parse_criterion("==0.5", "pass")) == "= 0.5"


def test_a_list_of_criteria_must_all_hold():
    criteria = obj.parse_criteria(["<= +10%", "< 0.5"], "pass")
    assert criteria.holds(0.4, 0.4)
    assert not criteria.holds(0.45, 0.4)  # over +10%
    assert not criteria.holds(0.52, 0.5)  # within +10% but not under 0.5
    assert str(criteria) == "<= +10% and < 0.5"


def test_keptns_alternatives_hold_when_any_of_them_does():
    criteria = obj.parse_criteria(
        [{"criteria": ["<= +10%", "< 600"]}, {"criteria": "< 300"}], "pass"
    )
    assert criteria.holds(650, 100) is False
    assert criteria.holds(299, 100) is True  # far over the baseline, but under 300
    assert criteria.holds(105, 100) is True
    assert str(criteria) == "<= +10% and < 600 or < 300"


def test_alternatives_must_be_written_as_keptn_writes_them():
    with pytest.raises(ConfigError) as refused:
        obj.parse_criteria([{"criterion": "< 1"}], "objectives.2.warning")
    assert refused.value.field == "objectives.2.warning.0"


def test_an_objective_passes_warns_or_fails_by_its_criteria():
    assert judged(0.2, **{"pass": "< 0.3"}) == obj.Judgement("pass", "0.2 meets < 0.3")
    fields = {"pass": "< 0.3", "warning": "< 0.5"}
    assert judged(0.4, **fields).verdict == "warn"
    assert judged(0.4, **fields).reason == "0.4 misses < 0.3 but meets the warning < 0.5"
    assert judged(0.6, **fields) == obj.Judgement("fail", "0.6 misses < 0.3")


def test_a_relative_verdict_names_the_threshold_it_computed():
    judgement = judged(0.3, baseline=0.2, **{"pass": "<= +10%"})
    assert judgement == obj.Judgement("fail", "0.3 misses <= +10% (relative to the baseline: 0.22)")


def test_too_few_samples_is_an_error_not_a_pass():
    assert judged(0.0, samples=4, **{"pass": "< 1"}) == obj.Judgement(
        "error", "not enough data: 4 samples in the window, 5 needed"
    )
    assert judged(None, samples=0, min_samples=1, **{"pass": "< 1"}).verdict == "error"


def test_too_few_baseline_samples_is_an_error_too():
    judgement = judged(0.1, baseline=0.1, baseline_samples=1, **{"pass": "<= +10%"})
    assert judgement == obj.Judgement("error", "not enough baseline data: 1 sample, 5 needed")


def test_relative_criteria_without_a_baseline_are_an_error_unless_told_to_skip():
    relative = objective(**{"pass": ["<= +10%", "< 1"]})
    measured = obj.Measurement(0.5, 10)
    assert obj.judge(
        relative, measured, None, min_samples=1, no_baseline="no baseline"
    ).verdict == ("error")
    # Skipping keeps the absolute criteria: 0.5 < 1 holds, 1.5 does not.
    assert obj.judge(relative, measured, None, min_samples=1).verdict == "pass"
    assert obj.judge(relative, obj.Measurement(1.5, 10), None, min_samples=1).verdict == "fail"
    only_relative = objective(**{"pass": "<= +10%"})
    assert obj.judge(only_relative, measured, None, min_samples=1).verdict == "info"


def test_an_objective_without_criteria_is_informational():
    assert judged(3.0).verdict == "info"


def test_a_warning_or_key_needs_pass_criteria():
    with pytest.raises(ConfigError) as refused:
        objective(warning="< 1")
    assert refused.value.field == "objectives.0.warning"
    with pytest.raises(ConfigError) as refused:
        objective(key=True)
    assert refused.value.field == "objectives.0.key"


def test_objective_settings_are_checked():
    for fields, field in [
        ({"bogus": 1}, "objectives.0.bogus"),
        ({"query": ""}, "objectives.0.query"),
        ({"weight": 0}, "objectives.0.weight"),
        ({"weight": True}, "objectives.0.weight"),
        ({"key": "yes"}, "objectives.0.key"),
        ({"aggregate": "median"}, "objectives.0.aggregate"),
    ]:
        with pytest.raises(ConfigError) as refused:
            objective(**fields)
        assert refused.value.field == field


def pair(name, verdict, key=False, weight=1.0):  # type: ignore[no-untyped-def]
    o = obj.Objective(
        name=name,
        query="q",
        passing=obj.parse_criteria("< 1", "pass"),
        warning=obj.Criteria(),
        key=key,
        weight=weight,
    )
    return o, obj.Judgement(verdict, f"{name} reason")


def test_a_failed_key_objective_fails_the_check_whatever_the_others():
    verdict = obj.overall(
        [pair("a", "pass"), pair("errors", "fail", key=True), pair("b", "error")],
        obj.TotalScore(10, 5),
    )
    assert verdict == obj.Verdict(
        "fail", "Key objective errors failed: errors reason.", key_failed=True
    )


def test_a_key_objective_that_warns_does_not_fail_the_check():
    verdict = obj.overall([pair("errors", "warn", key=True), pair("b", "pass")])
    assert (verdict.status, verdict.key_failed) == ("warn", False)


def test_any_objective_in_error_makes_the_check_an_error():
    verdict = obj.overall([pair("a", "pass"), pair("b", "error"), pair("c", "error")])
    assert verdict.status == "error"
    assert verdict.summary == "b: b reason (and 1 other objective)."


def test_without_a_total_score_the_check_is_as_good_as_its_worst_objective():
    assert obj.overall([pair("a", "pass"), pair("b", "pass")]).status == "pass"
    warned = obj.overall([pair("a", "pass"), pair("b", "warn")])
    assert (warned.status, warned.summary) == ("warn", "b only warns (1 passed, 1 warned).")
    failed = obj.overall([pair("a", "fail"), pair("b", "warn"), pair("c", "info")])
    assert (failed.status, failed.summary) == ("fail", "a failed (1 warned, 1 failed).")


def test_a_total_score_weighs_the_objectives_as_keptn_does():
    total = obj.TotalScore(passing=90, warning=75)
    ten = [pair(f"o{n}", "pass") for n in range(9)]
    assert obj.overall([*ten, pair("x", "fail")], total).status == "pass"  # 90%
    verdict = obj.overall([*ten[:8], pair("x", "fail"), pair("y", "warn")], total)
    assert (verdict.status, verdict.score) == ("warn", 85.0)  # (8 + 0.5) / 10
    heavy = obj.overall([pair("a", "pass"), pair("b", "fail", weight=3)], total)
    assert (heavy.status, heavy.score) == ("fail", 25.0)


def test_nothing_judged_is_skipped():
    assert obj.overall([pair("a", "info")]).status == "skipped"


@pytest.mark.parametrize(
    ("how", "expected"),
    [("avg", 2.5), ("min", 1), ("max", 4), ("last", 4), ("p50", 2.5), ("p99", 3.97)],
)
def test_series_are_aggregated_to_one_value_without_nans(how, expected):
    assert obj.aggregate([1, math.nan, 2, 3, math.inf, 4], how) == pytest.approx(expected)


def test_a_series_of_nans_has_no_value_and_no_samples():
    assert obj.aggregate([math.nan, math.nan], "avg") is None
    assert obj.usable([math.nan, -math.inf]) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400), (45, 45)],
)
def test_durations_read_as_prometheus_writes_them(text, seconds):
    assert obj.parse_duration(text, "window") == seconds


@pytest.mark.parametrize("text", ["ten minutes", "10", "5 m", "", True, "1m+"])
def test_malformed_durations_are_refused(text):
    with pytest.raises(ConfigError):
        obj.parse_duration(text, "window")


def test_placeholders_are_filled_and_promqls_braces_left_alone():
    template = 'sum(rate(http_requests_total{job="pos",version="{version}"}[{window}]))'
    assert obj.fill_query(template, {"version": "1.4.2", "window": "300s"}) == (
        'sum(rate(http_requests_total{job="pos",version="1.4.2"}[300s]))'
    )
    assert obj.fill_query('x{v="{version}"}', {"version": 'a"b'}) == 'x{v="a\\"b"}'
    assert obj.unknown_placeholders('x{v="{versoin}"} {job="a"}') == ["versoin"]


def test_a_baseline_selector_sets_the_labels_of_the_baseline():
    query = 'max(lat{job="pos", version="1.5.0"}) / max(up{version=~"1.5.*"})'
    assert obj.select(query, {"version": "1.4.0"}) == (
        'max(lat{job="pos", version="1.4.0"}) / max(up{version="1.4.0"})'
    )
    assert obj.labels_missing('max(lat{job="pos"})', ["version", "job"]) == ["version"]
    assert obj.labels_missing('max(lat{myversion="1"})', ["version"]) == ["version"]
