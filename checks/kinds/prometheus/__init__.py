"""Objectives over a Prometheus server's metrics, Keptn-style: PromQL queries measured over a
window and judged by absolute criteria (``< 0.01``) or criteria relative to a baseline
(``<= +10%``). The baseline is the same query over the previous release's window (the release
last verified in the environment), or a baseline selector at the same time (canary against
stable: ``version="{version}"`` against the previous version).

In a readiness run the check is evaluated once, over the window before the run. In a
post-deploy verification with ``verification: {interval, duration}`` it watches the deployed
release: evaluated every ``interval`` over the data since the deployment, it fails at the first
failed key objective (which triggers the environment's auto-rollback) and otherwise answers
after ``duration``. Each evaluation is a short task of its own (Outcome.recheck_after), so no
worker is held for the duration.

The server's URL and token are named by environment variables (``url_env``, ``token_env``),
never stored or logged. The judging itself is pure: ``objectives.py``."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    need_number,
    need_str,
    only_keys,
    refuse_reserved_env,
    register,
)
from . import objectives as obj
from .client import MAX_POINTS, PrometheusError, QueryError, Server, Unreachable

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_OBJECTIVES = 20
# A chart needs no more: longer series are thinned evenly before they are stored.
MAX_STORED_POINTS = 240
# How many past evaluations of a watch the result keeps.
KEPT_EVALUATIONS = 60
# A watch whose end is this close is over: one more evaluation would see nothing new.
END_TOLERANCE = 0.25

KEYS = {
    "url_env",
    "token_env",
    "objectives",
    "window",
    "step",
    "min_samples",
    "baseline",
    "total_score",
    "verification",
    "timeout_seconds",
}


# Config ---------------------------------------------------------------------------------


def _env_name(config: Mapping[str, Any], key: str) -> str:
    name = need_str(config, key)
    if not ENV_NAME.match(name):
        raise ConfigError(
            key, "name the environment variable that holds it, e.g. POS_PROMETHEUS_URL"
        )
    refuse_reserved_env(key, name)
    return name


def _seconds(
    config: Mapping[str, Any], key: str, *, default: str, minimum: float, maximum: float
) -> float:
    seconds = obj.parse_duration(config.get(key, default), key)
    if not minimum <= seconds <= maximum:
        raise ConfigError(key, f"must be between {_duration(minimum)} and {_duration(maximum)}")
    return _whole(seconds)


def _whole(seconds: float) -> float:
    """Stored as seconds; a whole number reads (and exports) as one."""
    return int(seconds) if float(seconds).is_integer() else seconds


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, KEYS)
    clean: dict[str, Any] = {"url_env": _env_name(config, "url_env")}
    if config.get("token_env") is not None:
        clean["token_env"] = _env_name(config, "token_env")
    clean["window"] = _seconds(config, "window", default="5m", minimum=1, maximum=7 * 86400)
    clean["step"] = _seconds(config, "step", default="15s", minimum=1, maximum=3600)
    if clean["window"] / clean["step"] > MAX_POINTS:
        raise ConfigError("step", f"is too fine for the window: at most {MAX_POINTS} points")
    possible = int(clean["window"] // clean["step"]) + 1
    min_samples = config.get("min_samples", min(5, possible))
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ConfigError("min_samples", "must be a whole number of at least 1")
    if min_samples > possible:
        raise ConfigError(
            "min_samples",
            f"a window of {_duration(clean['window'])} at a step of {_duration(clean['step'])} "
            f"holds at most {possible} samples",
        )
    clean["min_samples"] = min_samples
    clean["timeout_seconds"] = need_number(
        config, "timeout_seconds", default=10, minimum=1, maximum=60
    )

    raw = config.get("objectives")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("objectives", "list the objectives: each a query with pass criteria")
    if len(raw) > MAX_OBJECTIVES:
        raise ConfigError("objectives", f"at most {MAX_OBJECTIVES} objectives per check")
    parsed = [obj.parse_objective(item, f"objectives.{n}", n) for n, item in enumerate(raw)]
    if not any(o.judged for o in parsed):
        raise ConfigError("objectives", "at least one objective needs pass criteria")
    names = [o.name for o in parsed]
    if len(set(names)) != len(names):
        raise ConfigError("objectives", "each objective needs a name of its own")
    for n, objective in enumerate(parsed):
        unknown = obj.unknown_placeholders(objective.query)
        if unknown:
            raise ConfigError(
                f"objectives.{n}.query",
                f"unknown placeholder {{{unknown[0]}}}; use "
                + ", ".join("{" + p + "}" for p in obj.PLACEHOLDERS),
            )

    baseline = _validate_baseline(config.get("baseline"), parsed)
    if baseline is not None:
        clean["baseline"] = baseline
    for n, objective in enumerate(parsed):
        if objective.relative and baseline is None:
            raise ConfigError(
                f"objectives.{n}",
                f"{objective.name} has relative criteria: say what they compare with in baseline",
            )
    clean["objectives"] = [_objective_config(item) for item in raw]

    if config.get("total_score") is not None:
        clean["total_score"] = _validate_total(config["total_score"])
    if config.get("verification") is not None:
        clean["verification"] = _validate_verification(config["verification"])
    return clean


def _objective_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in obj.OBJECTIVE_KEYS if k in raw}


def _validate_baseline(raw: Any, parsed: list[obj.Objective]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if raw == "previous_release":
        raw = {"previous_release": True}
    if not isinstance(raw, Mapping):
        raise ConfigError("baseline", "must be previous_release or a mapping")
    only = {"previous_release", "selector", "if_missing"}
    unknown = sorted(set(raw) - only)
    if unknown:
        raise ConfigError(
            f"baseline.{unknown[0]}", f"unknown setting; known: {', '.join(sorted(only))}"
        )
    previous = raw.get("previous_release", False)
    if not isinstance(previous, bool):
        raise ConfigError("baseline.previous_release", "must be true or false")
    selector = raw.get("selector")
    if bool(previous) == (selector is not None):
        raise ConfigError(
            "baseline",
            "choose one: previous_release: true (the same query over the previous release's "
            "window) or selector: {label: value} (a baseline running at the same time)",
        )
    clean: dict[str, Any] = {}
    if previous:
        clean["previous_release"] = True
    else:
        if not isinstance(selector, Mapping) or not selector:
            raise ConfigError(
                "baseline.selector",
                'map labels to the baseline\'s values, e.g. {version: "{previous_version}"}',
            )
        for label, value in selector.items():
            if not isinstance(label, str) or not LABEL_NAME.match(label):
                raise ConfigError("baseline.selector", f"{label!r} is not a label name")
            if not isinstance(value, str) or not value:
                raise ConfigError(f"baseline.selector.{label}", "must be a non-empty string")
            unknown = obj.unknown_placeholders(value)
            if unknown:
                raise ConfigError(
                    f"baseline.selector.{label}", f"unknown placeholder {{{unknown[0]}}}"
                )
        for n, objective in enumerate(parsed):
            missing = obj.labels_missing(objective.query, list(selector))
            if objective.relative and missing:
                raise ConfigError(
                    f"objectives.{n}.query",
                    f"the baseline selector sets {missing[0]}, but this query does not match "
                    f'on it (write {missing[0]}="..." in its selector): its baseline would be '
                    "the same series",
                )
        clean["selector"] = dict(selector)
    if_missing = raw.get("if_missing", "error")
    if if_missing not in ("error", "skip"):
        raise ConfigError("baseline.if_missing", "must be error or skip")
    clean["if_missing"] = if_missing
    return clean


def _validate_total(raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping) or set(raw) - {"pass", "warning"} or "pass" not in raw:
        raise ConfigError("total_score", "must be {pass: 90, warning: 75} (percentages)")
    values = {}
    for key in ("pass", "warning"):
        value = raw.get(key, raw["pass"])
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise ConfigError(f"total_score.{key}", "must be a percentage (0-100)")
        values[key] = float(value)
    if values["warning"] > values["pass"]:
        raise ConfigError("total_score.warning", "cannot be above the pass score")
    return values


def _validate_verification(raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ConfigError("verification", "must be {interval: 30s, duration: 10m}")
    only_keys(raw, {"interval", "duration"})
    # The interval stays well inside the broker's visibility timeout (a countdown task is
    # handed to another worker after it).
    interval = obj.parse_duration(raw.get("interval", "30s"), "verification.interval")
    if not 1 <= interval <= 600:
        raise ConfigError("verification.interval", "must be between 1 s and 10 min")
    duration = obj.parse_duration(raw.get("duration", "10m"), "verification.duration")
    if not interval <= duration <= 6 * 3600:
        raise ConfigError("verification.duration", "must be between the interval and 6 h")
    return {"interval": _whole(interval), "duration": _whole(duration)}


# Evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class Baseline:
    """What relative criteria compare with: the query's placeholders and labels for the
    baseline, over ``window``. ``missing`` says why there is none."""

    describe: str = ""
    window: Window | None = None
    values: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None
    missing: str = ""


def _values(ctx: CheckContext, window: Window) -> dict[str, str]:
    values = {
        "project": ctx.project_slug,
        "version": ctx.version,
        "git_sha": ctx.git_sha,
        "environment": ctx.environment_slug,
        "window": obj.promql_duration(max(window.seconds, 1)),
    }
    if ctx.verified is not None:
        values["previous_version"] = ctx.verified.version
        values["previous_git_sha"] = ctx.verified.git_sha
    return values


def _baseline(ctx: CheckContext, config: Mapping[str, Any], window: Window) -> Baseline | None:
    spec = config.get("baseline")
    if spec is None:
        return None
    values = _values(ctx, window)
    skip = spec.get("if_missing", "error") == "skip"
    previous = ctx.verified
    if previous is None:
        reason = f"no release has been verified in {ctx.environment_slug} before {ctx.version}"
        return Baseline(missing="" if skip else f"no baseline: {reason}", describe=reason)
    if spec.get("previous_release"):
        end = previous.live_until or window.end
        start = end - timedelta(seconds=window.seconds)
        if previous.live_from is not None and previous.live_from > start:
            start = min(previous.live_from, end)
        values |= {"version": previous.version, "git_sha": previous.git_sha}
        span = Window(start, end)
        values["window"] = obj.promql_duration(max(span.seconds, 1))
        return Baseline(
            describe=f"{previous.version}, the release verified in {ctx.environment_slug} "
            f"before, over its last {_duration(span.seconds)} there",
            window=span,
            values=values,
        )
    labels = {label: obj.fill_query(v, values) for label, v in spec["selector"].items()}
    shown = ", ".join(f'{label}="{v}"' for label, v in labels.items())
    return Baseline(
        describe=f"{shown} over the same window", window=window, values=values, labels=labels
    )


def _window(ctx: CheckContext, config: Mapping[str, Any], now: datetime, watching: bool) -> Window:
    length = timedelta(seconds=config.get("window", 300))
    if ctx.run_kind == "verification":
        start = now - length
        if watching and ctx.as_of is not None:
            # A watch judges the deployed release: only what happened since the deployment.
            start = max(start, min(ctx.as_of, now))
        return Window(start, now)
    end = ctx.as_of or now  # a readiness run judges the moment it was started
    return Window(end - length, end)


class _Clock:
    """The check's time budget: each request gets what is left of it."""

    def __init__(self, per_request: float, total: float) -> None:
        self.per_request = per_request
        self.deadline = time.monotonic() + total
        self.total = total

    def timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise Unreachable(f"Prometheus did not answer every query within {self.total:g} s.")
        return min(self.per_request, left)


@dataclass
class _Measured:
    measurement: obj.Measurement
    points: list[tuple[float, float]]
    query: str


def _measure(
    server: Server,
    template: str,
    values: Mapping[str, str],
    labels: Mapping[str, str] | None,
    window: Window,
    *,
    step: float,
    how: str,
    clock: _Clock,
) -> _Measured:
    query = obj.fill_query(template, values)
    if labels:
        query = obj.select(query, labels)
    left = obj.unknown_placeholders(query) + [
        p for p in ("previous_version", "previous_git_sha") if f"{{{p}}}" in query
    ]
    if left:
        raise QueryError(f"{{{left[0]}}} is unknown: no release was verified here before")
    series = server.query_range(
        query, start=window.start, end=window.end, step=step, timeout=clock.timeout()
    )
    if len(series) > 1:
        shown = ", ".join(
            "{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}"
            for s in series[:3]
        )
        raise QueryError(
            f"the query returned {len(series)} series ({shown}{', …' if len(series) > 3 else ''}); "
            "aggregate them to one, e.g. with sum(...) or max(...)"
        )
    points = series[0].points if series else []
    samples = len(obj.usable([v for _, v in points]))
    if how == "instant":
        answer = server.query(query, at=window.end, timeout=clock.timeout())
        if len(answer) > 1:
            raise QueryError(f"the query returned {len(answer)} series; aggregate them to one")
        value = answer[0].points[0][1] if answer else None
        value = value if value is not None and math.isfinite(value) else None
    else:
        value = obj.aggregate([v for _, v in points], how)
    return _Measured(obj.Measurement(value=value, samples=samples), points, query)


def evaluate(ctx: CheckContext) -> Outcome:
    config = ctx.config
    now = timezone.now()
    watch = config.get("verification") if ctx.run_kind == "verification" else None
    try:
        server = Server.from_env(config["url_env"], config.get("token_env"))
    except PrometheusError as exc:  # the configuration is wrong: waiting will not fix it
        return Outcome("error", str(exc))
    window = _window(ctx, config, now, watching=watch is not None)
    baseline = _baseline(ctx, config, window)
    clock = _Clock(float(config.get("timeout_seconds", 10)), ctx.timeout)
    values = _values(ctx, window)
    parsed = [
        obj.parse_objective(item, f"objectives.{n}", n)
        for n, item in enumerate(config["objectives"])
    ]
    judged: list[tuple[obj.Objective, obj.Judgement]] = []
    rows: list[dict[str, Any]] = []
    try:
        for objective in parsed:
            row, judgement = _objective(server, objective, values, baseline, window, config, clock)
            judged.append((objective, judgement))
            rows.append(row)
    except Unreachable as exc:
        # The server is not there: one line says so, not one per objective.
        return _watched(ctx, watch, now, Outcome("error", str(exc)), key_failed=False)
    total = config.get("total_score")
    verdict = obj.overall(
        judged,
        obj.TotalScore(total["pass"], total["warning"]) if total else None,
    )
    data: dict[str, Any] = {
        "server": config["url_env"],
        "window": window.as_dict(),
        "step": config.get("step", 15),
        "min_samples": config.get("min_samples", 5),
        "objectives": rows,
        "verdict": verdict.status,
        "score": None if verdict.score is None else round(verdict.score, 1),
    }
    if baseline is not None:
        data["baseline"] = {
            "describe": baseline.describe,
            "window": baseline.window.as_dict() if baseline.window else None,
            "missing": baseline.missing,
        }
    outcome = Outcome(verdict.status, _detail(verdict, rows, baseline), data=data)
    return _watched(ctx, watch, now, outcome, key_failed=verdict.key_failed)


def _objective(
    server: Server,
    objective: obj.Objective,
    values: Mapping[str, str],
    baseline: Baseline | None,
    window: Window,
    config: Mapping[str, Any],
    clock: _Clock,
) -> tuple[dict[str, Any], obj.Judgement]:
    step = float(config.get("step", 15))
    min_samples = int(config.get("min_samples", 5))
    row: dict[str, Any] = {
        "name": objective.name,
        "key": objective.key,
        "weight": objective.weight,
        "aggregate": objective.aggregate,
        "pass": str(objective.passing),
        "warning": str(objective.warning),
    }
    try:
        current = _measure(
            server,
            objective.query,
            values,
            None,
            window,
            step=step,
            how=objective.aggregate,
            clock=clock,
        )
    except QueryError as exc:
        row |= {
            "query": obj.fill_query(objective.query, values),
            "verdict": "error",
            "reason": str(exc),
        }
        return row, obj.Judgement(obj.ERROR, str(exc))
    row |= {
        "query": current.query,
        "value": _json_number(current.measurement.value),
        "samples": current.measurement.samples,
        "series": _stored(current.points, window.start),
    }
    measured_baseline: obj.Measurement | None = None
    no_baseline = ""
    if objective.relative and baseline is not None:
        if baseline.window is None:
            no_baseline = baseline.missing
        else:
            try:
                base = _measure(
                    server,
                    objective.query,
                    baseline.values or values,
                    baseline.labels,
                    baseline.window,
                    step=step,
                    how=objective.aggregate,
                    clock=clock,
                )
            except QueryError as exc:
                row |= {"verdict": "error", "reason": f"baseline: {exc}"}
                return row, obj.Judgement(obj.ERROR, f"baseline: {exc}")
            measured_baseline = base.measurement
            row |= {
                "baseline_query": base.query,
                "baseline": _json_number(base.measurement.value),
                "baseline_samples": base.measurement.samples,
                "baseline_series": _stored(base.points, baseline.window.start),
            }
    judgement = obj.judge(
        objective,
        current.measurement,
        measured_baseline,
        min_samples=min_samples,
        no_baseline=no_baseline,
    )
    base_value = measured_baseline.value if measured_baseline is not None else None
    row |= {
        "verdict": judgement.verdict,
        "reason": judgement.reason,
        "thresholds": {
            "pass": [_json_number(t) for t in objective.passing.thresholds(base_value)],
            "warning": [_json_number(t) for t in objective.warning.thresholds(base_value)],
        },
    }
    return row, judgement


def _detail(verdict: obj.Verdict, rows: list[dict[str, Any]], baseline: Baseline | None) -> str:
    parts = []
    for row in rows:
        text = f"{row['name']}{' (key)' if row['key'] else ''}: {obj.number(row.get('value'))}"
        if "baseline" in row:
            text += f" (baseline {obj.number(row.get('baseline'))})"
        if row.get("pass"):
            text += f", pass {row['pass']}"
        if row.get("warning"):
            text += f", warning {row['warning']}"
        text += f" → {row['verdict']}"
        if row["verdict"] == "error":
            text += f" ({row['reason']})"
        parts.append(text)
    detail = f"{verdict.summary} " + "; ".join(parts) + "."
    if baseline is not None:
        detail += f" Baseline: {baseline.describe or baseline.missing}."
    return detail


def _watched(
    ctx: CheckContext,
    watch: Mapping[str, float] | None,
    now: datetime,
    outcome: Outcome,
    *,
    key_failed: bool,
) -> Outcome:
    """In a watching verification: the answer now, or ``pending`` and when to look again."""
    if watch is None:
        return outcome
    started = ctx.as_of or now
    ends = started + timedelta(seconds=watch["duration"])
    previous = list((ctx.previous or {}).get("evaluations", []))
    evaluations = [*previous, {"at": now.isoformat(), "status": outcome.status}][-KEPT_EVALUATIONS:]
    number = len(previous) + 1
    elapsed = _duration((now - started).total_seconds())
    data = {
        **outcome.data,
        "evaluations": evaluations,
        "watch": {
            "interval": watch["interval"],
            "duration": watch["duration"],
            "started": started.isoformat(),
            "ends": ends.isoformat(),
        },
    }
    left = (ends - now).total_seconds()
    if key_failed:
        return Outcome(
            outcome.status,
            f"{outcome.detail} Found at evaluation {number}, {elapsed} after the deployment.",
            data=data,
        )
    if left <= END_TOLERANCE:
        return Outcome(
            outcome.status,
            f"After watching for {_duration(watch['duration'])} ({obj.count(number, 'evaluation')}): "
            f"{outcome.detail}",
            data=data,
        )
    return Outcome(
        "pending",
        f"Watching {ctx.version} for {_duration(watch['duration'])}: evaluation {number}, "
        f"{_duration(left)} to go. So far: {outcome.detail}",
        data=data,
        recheck_after=min(watch["interval"], left),
    )


def _stored(points: list[tuple[float, float]], origin: datetime) -> list[list[float | None]]:
    """A series as the chart needs it: seconds into its window and the value (null for NaN:
    JSON has no NaN), thinned evenly to at most MAX_STORED_POINTS."""
    every = max(1, math.ceil(len(points) / MAX_STORED_POINTS))
    zero = origin.timestamp()
    return [[round(t - zero, 3), _json_number(v)] for t, v in points[::every]]


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:g} h" if seconds % 3600 else f"{seconds / 3600:.0f} h"
    if seconds >= 60:
        minutes = seconds / 60
        return f"{minutes:.0f} min" if minutes.is_integer() else f"{minutes:.1f} min"
    return f"{seconds:.0f} s" if seconds >= 10 or seconds.is_integer() else f"{seconds:.1f} s"


KIND = register(
    Kind(
        name="prometheus",
        description="Objectives over Prometheus metrics: absolute or against a baseline.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
        compares_releases=True,
    )
)
