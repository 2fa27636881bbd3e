"""Bar charts drawn on the server as SVG: the geometry is computed here and
``templates/_bar_chart.html`` draws it. No JavaScript, prints as it shows, and every bar has a
title (its tooltip) and the chart a text summary, so nothing is said by colour alone."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 480, 170
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 24
# A lone bar should look like a bar, not a wall.
MAX_BAR_WIDTH = 40
MAX_X_LABELS = 6
# The axis text is 12 user units high (.chart .axis); a character of it is at most this wide, so
# a label's extent can be judged without a browser.
CHAR_WIDTH = 7.2
LABEL_GAP = 8


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # a class of .chart in preflight.css: pass, fail, warn, info, neutral


@dataclass(frozen=True)
class Point:
    label: str
    values: tuple[float, ...]
    title: str = ""


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    css: str


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    title: str
    segments: list[Segment]


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: start, middle or end

    @property
    def extent(self) -> tuple[float, float]:
        """Where the label's text begins and ends, at most."""
        width = len(self.label) * CHAR_WIDTH
        start = {"start": self.x, "middle": self.x - width / 2, "end": self.x - width}
        return start[self.anchor], start[self.anchor] + width


@dataclass
class BarChart:
    summary: str
    series: Sequence[Series]
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[XLabel] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value``: round axis maxima."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(
    points: Sequence[Point],
    *,
    series: Sequence[Series],
    summary: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> BarChart:
    """Stacked bars, one per point, its values stacked in ``series`` order from the baseline."""
    chart = BarChart(summary=summary, series=series)
    if not points:
        return chart
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max(sum(p.values) for p in points))
    slot = plot_width / len(points)
    bar_width = min(MAX_BAR_WIDTH, max(1.0, slot * 0.7))
    for index, point in enumerate(points):
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = chart.baseline
        segments = []
        for value, kind in zip(point.values, series, strict=True):
            height = plot_height * value / top
            if height > 0:
                y -= height
                segments.append(Segment(y=round(y, 2), height=round(height, 2), css=kind.css))
        chart.bars.append(
            Bar(
                x=round(x, 2),
                width=round(bar_width, 2),
                title=point.title or f"{point.label}: {fmt(sum(point.values))}",
                segments=segments,
            )
        )
    counts = all(float(v).is_integer() for p in points for v in p.values)
    # Counts get no gridline at a fraction: "0.5 deployments" reads as nonsense.
    fractions = (0, 1) if counts and top % 2 else (0, 0.5, 1)
    chart.ticks = [
        Tick(y=round(chart.baseline - plot_height * fraction, 2), label=fmt(top * fraction))
        for fraction in fractions
    ]
    # Every n-th label, n large enough that neighbours do not touch.
    widest = max(len(p.label) for p in points) * CHAR_WIDTH + LABEL_GAP
    every = max(1, math.ceil(len(points) / MAX_X_LABELS), math.ceil(widest / slot))
    labels = [
        _x_label(LEFT + i * slot + slot / 2, p.label)
        for i, p in enumerate(points)
        if i % every == 0
    ]
    # A label pushed in from the right edge may now touch the one before it: the newest stays.
    while len(labels) > 1 and labels[-2].extent[1] + LABEL_GAP / 2 > labels[-1].extent[0]:
        del labels[-2]
    chart.x_labels = labels
    return chart


def _x_label(center: float, label: str) -> XLabel:
    """A label under its bar, kept inside the chart: one that would run past an edge is
    anchored to that edge instead (the last week's label used to be cut off)."""
    half = len(label) * CHAR_WIDTH / 2
    if center + half > WIDTH:
        return XLabel(x=WIDTH, label=label, anchor="end")
    if center - half < 0:
        return XLabel(x=0, label=label, anchor="start")
    return XLabel(x=round(center, 2), label=label)


def hours(value: float) -> str:
    """Seconds as a short duration for axis labels."""
    if value >= 86400 * 2:
        return f"{value / 86400:.1f} d"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.0f} min"
    if 0 < value < 10:
        return f"{value:.1f} s"  # a quick restore reads "0.4 s", not "0 s"
    return f"{value:.0f} s"


def size(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


# Line charts: series over time (a check's metrics), drawn by templates/_line_chart.html.


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    points: str  # an SVG polyline's "x,y x,y …"
    dots: list[tuple[float, float]]  # a lone sample draws no line: it gets a dot


@dataclass(frozen=True)
class Rule:
    """A horizontal line at a threshold, with its label."""

    y: float
    label: str
    css: str


@dataclass
class LineChart:
    summary: str
    lines: list[Line] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[XLabel] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.lines


def line_chart(
    series: Sequence[tuple[Series, Sequence[tuple[float, float | None]]]],
    *,
    summary: str,
    rules: Sequence[tuple[float, str, str]] = (),
    fmt: Callable[[float], str] = lambda v: f"{v:.3g}",
    x_fmt: Callable[[float], str] = hours,
    x_range: tuple[float, float] | None = None,
) -> LineChart:
    """Each series' (x, y) points as a line (a y of None is a gap in the data: skipped), on a
    y axis from zero — or from the lowest value, if below — to a round maximum that also holds
    every rule (threshold, label, css)."""
    chart = LineChart(summary=summary)
    drawn = [(s, [(x, y) for x, y in points if y is not None]) for s, points in series]
    drawn = [(s, points) for s, points in drawn if points]
    if not drawn:
        return chart
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    ys = [y for _, points in drawn for _, y in points] + [value for value, _, _ in rules]
    xs = [x for _, points in drawn for x, _ in points]
    low = min(0.0, min(ys))
    top = nice_ceiling(max(ys) - low) + low if max(ys) > low else low + 1
    # The x axis spans the data, or ``x_range`` (a whole window, even where it had no data).
    x_low, x_high = x_range or (min(xs), max(xs))
    x_span = (x_high - x_low) or 1.0

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            round(LEFT + plot_width * (x - x_low) / x_span, 2),
            round(chart.baseline - plot_height * (y - low) / (top - low), 2),
        )

    for s, points in drawn:
        placed = [at(x, y) for x, y in points]
        chart.lines.append(
            Line(
                name=s.name,
                css=s.css,
                points=" ".join(f"{x},{y}" for x, y in placed),
                dots=placed if len(placed) == 1 else [],
            )
        )
    chart.rules = [Rule(y=at(x_low, value)[1], label=label, css=css) for value, label, css in rules]
    chart.ticks = [
        Tick(y=round(chart.baseline - plot_height * f, 2), label=fmt(low + (top - low) * f))
        for f in (0, 0.5, 1)
    ]
    labels = 4
    chart.x_labels = [
        _x_label(LEFT + plot_width * n / labels, x_fmt(x_low + x_span * n / labels))
        for n in range(labels + 1)
    ]
    return chart
