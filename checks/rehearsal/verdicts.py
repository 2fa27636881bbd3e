"""What each aspect of a migration rehearsal says about the release: one check's outcome from the
run's one rehearsal of its database. Pure: reads the rehearsal row (with its backup and
database loaded), queries nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..kinds.base import Outcome, sentence

if TYPE_CHECKING:
    from ..models import MigrationRehearsal

LISTED = 5


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


def cite(rehearsal: MigrationRehearsal) -> str:
    """The line that names the rehearsal a result comes from (the report quotes it)."""
    backup = rehearsal.backup
    taken = f", taken {backup.taken_at:%Y-%m-%d %H:%M} UTC" if backup is not None else ""
    on = f" on backup #{rehearsal.backup_id}{taken}" if rehearsal.backup_id else ""
    return f"Rehearsal #{rehearsal.pk} of {rehearsal.database.name}{on}."


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(items: list[dict[str, Any]]) -> str:
    names = [str(i["name"]) for i in items[:LISTED]]
    more = len(items) - LISTED
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _where(record: Mapping[str, Any]) -> str:
    """file:line: the statement, of a step that failed."""
    place = str(record.get("error_file") or "")
    if record.get("line"):
        place += f":{record['line']}"
    statement = " ".join(str(record.get("statement") or "").split())
    if len(statement) > 200:
        statement = statement[:199] + "…"
    return f"{place}: {statement}" if statement else place


def judge(config: Mapping[str, Any], rehearsal: MigrationRehearsal) -> Outcome:
    aspect = str(config["aspect"])
    data = {
        "rehearsal": rehearsal.pk,
        "aspect": aspect,
        "backup": rehearsal.backup_id,
        "status": rehearsal.status,
    }
    if rehearsal.status == rehearsal.Status.ERROR:
        return Outcome(
            "error",
            f"The rehearsal could not be done: {rehearsal.error} {cite(rehearsal)}",
            data=data,
        )
    judges: dict[
        str, Callable[[Mapping[str, Any], MigrationRehearsal], tuple[str, str, dict[str, Any]]]
    ] = {
        "dry_run": _dry_run,
        "rollback": _rollback,
        "assertions": _assertions,
        "duration": _duration,
    }
    status, text, extra = judges[aspect](config, rehearsal)
    return Outcome(status, f"{sentence(text)} {cite(rehearsal)}", data=data | extra)


def _failed(rehearsal: MigrationRehearsal) -> dict[str, Any] | None:
    return next((m for m in rehearsal.migrations if m["status"] == "failed"), None)


def _applied(rehearsal: MigrationRehearsal) -> list[dict[str, Any]]:
    return [m for m in rehearsal.migrations if m["status"] == "applied"]


def _nothing(rehearsal: MigrationRehearsal) -> str:
    return f"no migration to apply: the restored copy has them all (by {rehearsal.pending_source})."


def _dry_run(
    config: Mapping[str, Any], rehearsal: MigrationRehearsal
) -> tuple[str, str, dict[str, Any]]:
    failed = _failed(rehearsal)
    if failed is not None:
        return (
            "fail",
            f"{failed['name']} fails on a copy of the data: {failed['error']} ({_where(failed)}).",
            {"failed": failed["name"]},
        )
    applied = _applied(rehearsal)
    if not applied:
        return "pass", _nothing(rehearsal), {}
    minimum = int(config.get("lock_min_rows", 10_000))
    blocking = [
        {**lock, "migration": m["name"]}
        for m in applied
        for lock in m.get("locks", [])
        if lock["kind"] != "index" and (lock.get("rows") is None or lock["rows"] >= minimum)
    ]
    rows = sum(int(m.get("rows") or 0) for m in applied)
    text = (
        f"{_plural(len(applied), 'migration')} applied to a restored copy of the data in "
        f"{seconds(rehearsal.migrate_seconds)}, {rows:,} rows touched (chosen by "
        f"{rehearsal.pending_source})."
    )
    if not blocking:
        return "pass", text, {"locks": []}
    described = [
        f"{lock['relation']} ({_rows(lock)}) held {lock['mode']} for {seconds(lock['held_seconds'])}"
        f" by {lock['migration']}"
        + (f" statement {lock['statement']} (line {lock['line']})" if lock.get("statement") else "")
        + f", blocking {lock['blocks']}"
        for lock in blocking[:LISTED]
    ]
    more = f"; and {len(blocking) - LISTED} more" if len(blocking) > LISTED else ""
    return (
        str(config.get("blocking_locks", "warn")),
        f"{text[:-1]}; locks that block the application: {'; '.join(described)}{more}.",
        {"locks": blocking},
    )


def _rows(lock: Mapping[str, Any]) -> str:
    if lock.get("rows") is None:
        return "rows unknown"
    return f"{int(lock['rows']):,} rows"


def _rollback(
    config: Mapping[str, Any], rehearsal: MigrationRehearsal
) -> tuple[str, str, dict[str, Any]]:
    migrations = rehearsal.migrations
    if not migrations:
        return "pass", f"nothing to roll back: {_nothing(rehearsal)}", {}
    missing = [m for m in migrations if not m.get("rollback_file")]
    if missing:
        return (
            "fail",
            f"no rollback SQL for {_names(missing)}.",
            {"missing": [m["name"] for m in missing]},
        )
    broken = next((m for m in migrations if m["rollback"]["status"] == "failed"), None)
    if broken is not None:
        step = broken["rollback"]
        return (
            "fail",
            f"rolling back {broken['name']} fails: {step['error']} ({_where(step)}).",
            {"failed": broken["name"]},
        )
    if rehearsal.schema_diff:
        changed = [
            line
            for line in rehearsal.schema_diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        shown = "; ".join(" ".join(line.split()) for line in changed[:3])
        return (
            "fail",
            f"the rollback leaves the schema different from before the migrations "
            f"({_plural(len(changed), 'line')} differ: {shown}).",
            {"schema_diff": rehearsal.schema_diff},
        )
    failed = _failed(rehearsal)
    applied = _applied(rehearsal)
    if failed is not None:
        return (
            "error",
            f"{failed['name']} did not apply, so its rollback could not be tried "
            f"({_plural(len(applied), 'migration')} before it rolled back cleanly).",
            {},
        )
    return (
        "pass",
        f"{_plural(len(applied), 'migration')} rolled back in "
        f"{seconds(rehearsal.rollback_seconds)}, leaving the schema as it was before them.",
        {},
    )


def _assertions(
    config: Mapping[str, Any], rehearsal: MigrationRehearsal
) -> tuple[str, str, dict[str, Any]]:
    failed = _failed(rehearsal)
    if failed is not None:
        return "error", f"the assertions were not run: {failed['name']} did not apply.", {}
    own = {a["sql"] for a in config.get("assertions", [])}
    results = [a for a in rehearsal.assertions if a["sql"] in own]
    broken = [a for a in results if not a["passed"]]
    problems = [f"{a['name']}: {a['detail']}" for a in broken]
    mode = str(config.get("row_counts", "no_loss"))
    counted = [r for r in rehearsal.row_counts if r.get("expected") is not None]
    lost = []
    if mode != "off":
        for row in counted:
            expected, actual = int(row["expected"]), row.get("actual")
            if actual is None:
                lost.append(f"{row['table']} is gone ({expected:,} rows in the backup)")
            elif (mode == "exact" and actual != expected) or actual < expected:
                lost.append(f"{row['table']} has {actual:,} rows, {expected:,} in the backup")
    problems += lost
    data = {"assertions": results, "row_problems": lost}
    if problems:
        shown = "; ".join(problems[:LISTED])
        more = f"; and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
        return "fail", f"on the migrated copy: {shown}{more}.", data
    parts = []
    if results:
        parts.append(f"{_plural(len(results), 'assertion')} hold on the migrated copy")
    if mode != "off":
        if counted:
            keeps = "match" if mode == "exact" else "keep"
            parts.append(
                f"row counts {keeps} the backup's manifest ({_plural(len(counted), 'table')})"
            )
        else:
            parts.append("row counts not compared (the backup has no manifest)")
    return "pass", "; ".join(parts) + ".", data


def _duration(
    config: Mapping[str, Any], rehearsal: MigrationRehearsal
) -> tuple[str, str, dict[str, Any]]:
    budget = float(config.get("budget_seconds", 60))
    total_budget = float(config.get("total_budget_seconds", 300))
    applied = _applied(rehearsal)
    failed = _failed(rehearsal)
    timed = applied + ([failed] if failed is not None else [])
    over = [m for m in timed if float(m["seconds"]) > budget]
    total = sum(float(m["seconds"]) for m in timed)
    slowest = max(timed, key=lambda m: float(m["seconds"]), default=None)
    data = {
        "total_seconds": round(total, 3),
        "over_budget": [{"name": m["name"], "seconds": m["seconds"]} for m in over],
    }
    problems = [
        f"{m['name']} took {seconds(float(m['seconds']))} (budget {seconds(budget)})"
        for m in over[:LISTED]
    ]
    if total > total_budget:
        problems.append(f"all of them took {seconds(total)} (budget {seconds(total_budget)})")
    if problems:
        return str(config.get("over_budget", "warn")), "; ".join(problems) + ".", data
    if failed is not None:
        return (
            "error",
            f"{failed['name']} did not apply, so the migrations' time is not known "
            f"({seconds(total)} until then).",
            data,
        )
    if slowest is None:
        return "pass", _nothing(rehearsal), data
    return (
        "pass",
        f"{_plural(len(applied), 'migration')} took {seconds(total)} in all (budget "
        f"{seconds(total_budget)}); the slowest, {slowest['name']}, {seconds(float(slowest['seconds']))} "
        f"(budget {seconds(budget)}).",
        data,
    )
