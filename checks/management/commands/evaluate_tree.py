from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from checks.kinds.repository.tree import RuleOutcome
from checks.kinds.repository.working_tree import CatalogUnusable, evaluate, read_catalog
from core.commands import PreflightCommand

# The demo's catalog, by path: the readiness app does not import the demo.
DEMO_CATALOG = Path(settings.BASE_DIR) / "demo" / "liquor-pos.catalog.yml"
LISTED = 100  # findings printed per check; the rest are counted
FAILING = ("fail", "error")


class Command(PreflightCommand):
    help = (
        "Run the repository checks of a catalog on a working tree and print their findings "
        "(file:line); exits 1 when a check fails. Needs no database."
    )
    needs_database = False
    # It reads files only: Django's checks of models, URLs and the database would only slow it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the working tree: the root of the release's sources")
        parser.add_argument(
            "--catalog",
            help="a catalog YAML file (as `catalog export` writes it); default: the demo's",
        )

    def handle(self, *args: Any, path: str, catalog: str | None, **options: Any) -> None:
        root = Path(path)
        if not root.is_dir():
            raise CommandError(f"No directory at {path}.")
        source = Path(catalog) if catalog else DEMO_CATALOG
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read the catalog {source}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"The catalog {source} is not UTF-8 text.") from None
        try:
            parsed = read_catalog(text)
        except CatalogUnusable as unusable:
            for problem in unusable.problems:
                self.stderr.write(f"  {problem}")
            raise CommandError(f"{source}: {len(unusable.problems)} problem(s).") from None

        skipped = f" ({parsed.skipped} checks of other kinds need a run)" if parsed.skipped else ""
        self.stdout.write(
            f"{len(parsed.checks)} repository checks of {source} on {root.resolve()}{skipped}\n"
        )
        counts: dict[str, int] = {}
        for check in parsed.checks:
            outcome = evaluate(root, check, parsed)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            self._show(check.code, check.title, outcome)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.stdout.write(f"\n{len(parsed.checks)} checks: {summary}.")
        if any(status in FAILING for status in counts):
            raise SystemExit(1)

    def _show(self, code: str, title: str, outcome: Any) -> None:
        self.stdout.write(f"{outcome.status.upper():5} {code}  {title}")
        findings = outcome.findings if isinstance(outcome, RuleOutcome) else ()
        if outcome.status == "pass" or not findings:
            self.stdout.write(f"      {outcome.detail}")
            return
        self.stdout.write(f"      {outcome.summary}:")
        for finding in findings[:LISTED]:
            self.stdout.write(f"        {finding}")
        if len(findings) > LISTED:
            self.stdout.write(f"        … and {len(findings) - LISTED} more")
