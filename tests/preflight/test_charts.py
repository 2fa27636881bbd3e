from __future__ import annotations

import pytest

from core.web import charts
from core.web.charts import Point, Series, bar_chart, hours, line_chart, nice_ceiling, size

ONE = [Series("count", "pass")]


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.3, 0.5), (1, 1), (3, 5), (7, 10), (12, 20), (2400, 2500)]
)
def test_axis_maxima_are_round(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == ceiling


def test_no_points_make_an_empty_chart_that_still_says_why() -> None:
    chart = bar_chart([], series=ONE, summary="Nothing in this window.")
    assert chart.empty
    assert chart.summary == "Nothing in this window."


def test_bars_scale_to_the_tallest_and_stack_their_values() -> None:
    chart = bar_chart(
        [Point("a", (2, 3)), Point("b", (1, 0))],
        series=[Series("ok", "pass"), Series("bad", "fail")],
        summary="s",
    )
    first, second = chart.bars
    assert [s.css for s in first.segments] == ["pass", "fail"]
    full = chart.baseline - chart.ticks[-1].y
    assert sum(s.height for s in first.segments) == pytest.approx(full)  # 5 of a top of 5
    assert len(second.segments) == 1  # a zero value draws nothing
    assert first.segments[1].y < first.segments[0].y  # the second value sits on the first


def test_each_bar_has_a_title_for_its_tooltip() -> None:
    chart = bar_chart([Point("Mon", (3,))], series=ONE, summary="s")
    assert chart.bars[0].title == "Mon: 3"


def test_counts_get_no_fractional_gridline() -> None:
    chart = bar_chart([Point("a", (1,))], series=ONE, summary="s")
    assert [t.label for t in chart.ticks] == ["0", "1"]


def test_a_lone_bar_is_not_a_wall() -> None:
    chart = bar_chart([Point("a", (1,))], series=ONE, summary="s")
    assert chart.bars[0].width <= 40


def test_durations_and_sizes_read_as_people_say_them() -> None:
    assert hours(42) == "42 s"
    assert hours(0.42) == "0.4 s"
    assert hours(0) == "0 s"
    assert hours(600) == "10 min"
    assert hours(3 * 3600) == "3.0 h"
    assert hours(5 * 86400) == "5.0 d"
    assert size(1_180_000_000) == "1.1 GB"
    assert size(999_000_000) == "953 MB"


@pytest.mark.parametrize("weeks", [1, 4, 5, 6, 9, 13, 26, 53])
def test_every_axis_label_fits_inside_the_chart(weeks: int) -> None:
    chart = charts.bar_chart(
        [charts.Point(label=f"wk Nov {n % 28 + 1}", values=(n,)) for n in range(weeks)],
        series=[charts.Series("verified", "pass")],
        summary="s",
    )
    assert chart.x_labels
    for label in chart.x_labels:
        start, end = label.extent
        assert start >= 0, label
        assert end <= chart.width, label
    # Neighbouring labels do not overlap either.
    for left, right in zip(chart.x_labels, chart.x_labels[1:], strict=False):
        assert left.extent[1] <= right.extent[0], (left, right)


def test_the_last_weekly_label_is_anchored_to_the_right_edge() -> None:
    chart = charts.bar_chart(
        [charts.Point(label=f"wk Dec {n + 1:02}", values=(1,)) for n in range(13)],
        series=[charts.Series("verified", "pass")],
        summary="s",
    )
    assert chart.x_labels[-1].anchor == "end"
    assert chart.x_labels[-1].extent[1] <= chart.width


def test_a_line_chart_draws_each_series_and_its_thresholds_on_one_scale():

    chart = line_chart(
        [
            (Series("this release", "info"), [(0, 0.1), (10, None), (20, 0.3)]),
            (Series("baseline", "neutral"), [(0, 0.2), (20, 0.2)]),
        ],
        summary="latency",
        rules=[(0.45, "pass threshold", "pass")],
    )
    assert [line.name for line in chart.lines] == ["this release", "baseline"]
    # The gap (None) is left out; the axis runs from 0 to 0.5, which holds the threshold.
    first = [tuple(map(float, p.split(","))) for p in chart.lines[0].points.split()]
    assert len(first) == 2
    assert first[0][0] == chart.left
    assert first[1][0] == chart.right
    assert [t.label for t in chart.ticks] == ["0", "0.25", "0.5"]
    assert chart.rules[0].y < first[1][1]  # 0.45 is drawn above 0.3
    assert chart.lines[0].dots == []
    for label in chart.x_labels:  # the time axis stays inside the chart
        start, end = label.extent
        assert start >= 0
        assert end <= chart.width


def test_a_lone_sample_is_a_dot_and_no_samples_is_an_empty_chart():

    lone = line_chart([(Series("x", "info"), [(5, 1.0)])], summary="one")
    assert len(lone.lines[0].dots) == 1
    assert line_chart([(Series("x", "info"), [(5, None)])], summary="none").empty


def test_a_line_chart_can_span_a_whole_window_where_data_began_late():
    chart = line_chart(
        [(Series("x", "info"), [(20, 1.0), (40, 1.0)])], summary="late", x_range=(0, 40)
    )
    first = float(chart.lines[0].points.split()[0].split(",")[0])
    assert first == (chart.left + chart.right) / 2
    assert [x.label for x in chart.x_labels] == ["0 s", "10 s", "20 s", "30 s", "40 s"]
