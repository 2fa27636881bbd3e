"""The catalog as code: a project's categories and checks to and from YAML.

An import is all or nothing: the whole file is validated first and every problem is reported,
naming the entry and the field; then categories (by key) and checks (by code) are created or
updated in one transaction. Checks missing from the file are deactivated, not deleted (their
past results stay meaningful). Importing the same file twice changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from releases.access import Permission, require
from releases.models import Project

from .kinds import REGISTRY, ConfigError
from .kinds.repository.source.config import validate_repository
from .models import (
    CODE_VALIDATOR,
    KEY_VALIDATOR,
    Category,
    Check,
    CheckResult,
    Phase,
    ReviewBaseline,
    Severity,
)

FORMAT_VERSION = 1
CHECK_FIELDS = (
    "code",
    "title",
    "category",
    "section",
    "severity",
    "phase",
    "checklist",
    "kind",
    "manual_reason",
    "impact",
    "action",
    "environments",
    "config",
)
REQUIRED_CHECK_FIELDS = ("code", "title", "category", "severity", "kind")


class CatalogInvalid(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the catalog")
        self.errors = errors


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    categories_changed: list[str] = field(default_factory=list)
    repository_changed: bool = False
    review_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.updated
            or self.deactivated
            or self.categories_changed
            or self.repository_changed
            or self.review_changed
        )

    def describe(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.deactivated)} deactivated; {len(self.categories_changed)} categories changed"
            + ("; repository changed" if self.repository_changed else "")
        )


def export_catalog(project: Project) -> str:
    categories = list(Category.objects.filter(project=project).order_by("position", "key"))
    checks = (
        Check.objects.filter(project=project, is_active=True)
        .select_related("category")
        .prefetch_related("environments")
        .order_by("position", "code")
    )
    data: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "project": project.slug,
    }
    if project.repository:
        data["repository"] = dict(project.repository)
    data |= {
        "categories": [
            {"key": c.key, "name": c.name, "weight": c.weight}
            for c in categories
            if c.weight or c.checks.exists()
        ],
        "checks": [],
    }
    review = ReviewBaseline.objects.filter(project=project).first()
    if review is not None:
        data["review"] = {
            "date": review.date,
            "score": float(review.score),
            **({"title": review.title} if review.title else {}),
            **(
                {"categories": {k: float(v) for k, v in review.categories.items()}}
                if review.categories
                else {}
            ),
        }
    for check in checks:
        entry: dict[str, Any] = {
            "code": check.code,
            "title": check.title,
            "category": check.category.key,
            "section": check.section,
            "severity": check.severity,
            "phase": check.phase,
            "checklist": check.in_checklist or "",
            "kind": check.kind,
            "manual_reason": check.manual_reason,
            "impact": check.impact,
            "action": check.action,
        }
        environments = sorted(e.slug for e in check.environments.all())
        if environments:
            entry["environments"] = environments
        if check.config:
            entry["config"] = check.config
        data["checks"].append({k: v for k, v in entry.items() if v != ""})
    header = f"# Preflight readiness catalog of {project.slug}: import with `manage.py catalog import {project.slug} FILE`\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


@dataclass
class _Parsed:
    categories: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    repository: dict[str, Any]
    review: dict[str, Any] | None = None


def parse_catalog(text: str, project: Project) -> _Parsed:
    errors: list[str] = []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogInvalid([f"not valid YAML: {exc}"]) from None
    if not isinstance(data, Mapping):
        raise CatalogInvalid(["the file must be a mapping with 'categories' and 'checks'"])
    unknown = set(data) - {"version", "project", "repository", "categories", "checks", "review"}
    if unknown:
        errors.append(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        errors.append(f"version: this Preflight reads catalog version {FORMAT_VERSION}")
    if data.get("project") not in (None, project.slug):
        errors.append(
            f"project: the file is the catalog of {data.get('project')!r}, not {project.slug!r}"
        )

    repository: dict[str, Any] = {}
    if data.get("repository") is not None:
        try:
            repository = validate_repository(data["repository"])
        except ConfigError as exc:
            errors.append(f"{exc.field}: {exc.message}")
    categories = _parse_categories(data.get("categories"), errors)
    keys = {c["key"] for c in categories}
    environments = set(project.environments.values_list("slug", flat=True))
    checks = _parse_checks(
        data.get("checks"), keys, environments, errors, has_repository="repository" in data
    )
    review = _parse_review(data.get("review"), keys, errors)
    if errors:
        raise CatalogInvalid(errors)
    return _Parsed(categories=categories, checks=checks, repository=repository, review=review)


def _review_score(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        score = Decimal(str(value)).quantize(Decimal("0.1"))
    except InvalidOperation:
        return None
    return score if 0 <= score <= 100 else None


def _parse_review(raw: Any, categories: set[str], errors: list[str]) -> dict[str, Any] | None:
    """The hand-written review's own figures: ``{date, score, title?, categories?}``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append("review: give a mapping with date and score")
        return None
    for name in sorted(set(map(str, raw)) - {"date", "score", "title", "categories"}):
        errors.append(f"review field {name}: unknown field")
    when = raw.get("date")
    if isinstance(when, str):
        try:
            when = date.fromisoformat(when)
        except ValueError:
            when = None
    if not isinstance(when, date):
        errors.append("review field date: give the review's date, e.g. 2026-01-05")
    score = _review_score(raw.get("score"))
    if score is None:
        errors.append("review field score: must be a number from 0 to 100")
    title = raw.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        errors.append("review field title: must be text of at most 200 characters")
    given = raw.get("categories", {}) or {}
    scores: dict[str, str] = {}
    if not isinstance(given, Mapping):
        errors.append("review field categories: map category keys to the review's scores")
        given = {}
    for key, value in given.items():
        if key not in categories:
            errors.append(f"review field categories.{key}: no such category in the catalog")
        elif (category_score := _review_score(value)) is None:
            errors.append(f"review field categories.{key}: must be a number from 0 to 100")
        else:
            scores[key] = str(category_score)
    return {"date": when, "score": score, "title": title or "", "categories": scores}


def _parse_categories(raw: Any, errors: list[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        errors.append("categories: give a list of categories with key, name and weight")
        return []
    parsed: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for index, entry in enumerate(raw):
        where = f"categories[{index}]"
        if not isinstance(entry, Mapping):
            errors.append(f"{where}: must be a mapping")
            continue
        where = f"categories[{index}] ({entry.get('key', '?')})"
        extra = set(entry) - {"key", "name", "weight"}
        if extra:
            errors.append(f"{where} field {sorted(map(str, extra))[0]}: unknown field")
        key, name, weight = entry.get("key"), entry.get("name"), entry.get("weight")
        try:
            KEY_VALIDATOR(key if isinstance(key, str) else "")
        except ValidationError:
            errors.append(f"{where} field key: use lowercase letters, digits and hyphens")
        if key in seen:
            errors.append(f"{where} field key: duplicate key")
        seen.add(key)
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors.append(f"{where} field name: give a name of at most 100 characters")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            errors.append(f"{where} field weight: must be a whole number from 0 to 100")
            weight = 0
        parsed.append({"key": key, "name": name, "weight": weight, "position": index})
    total = sum(c["weight"] for c in parsed)
    if parsed and total != 100:
        errors.append(f"categories: the weights sum to {total}; they must sum to 100")
    return parsed


def _parse_checks(
    raw: Any,
    categories: set[str],
    environments: set[str],
    errors: list[str],
    *,
    has_repository: bool,
) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append("checks: give a list of checks")
        return []
    parsed, seen = [], set()
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            errors.append(f"checks[{index}]: must be a mapping")
            continue
        code = entry.get("code")
        where = f"checks[{index}] ({code or '?'})"

        def problem(name: str, message: str, where: str = where) -> None:
            errors.append(f"{where} field {name}: {message}")

        for name in sorted(set(map(str, entry)) - set(CHECK_FIELDS)):
            problem(name, "unknown field")
        for name in REQUIRED_CHECK_FIELDS:
            if entry.get(name) in (None, ""):
                problem(name, "is required")
        try:
            CODE_VALIDATOR(code if isinstance(code, str) else "")
        except ValidationError:
            problem("code", "use upper-case letters, digits and hyphens, e.g. DS-001")
        if code in seen:
            problem("code", "duplicate code")
        seen.add(code)
        for name, limit in (("title", 200), ("section", 100), ("action", 200)):
            value = entry.get(name, "")
            if not isinstance(value, str) or len(value) > limit:
                problem(name, f"must be text of at most {limit} characters")
        if not isinstance(entry.get("impact", ""), str):
            problem("impact", "must be text")
        manual_reason = entry.get("manual_reason", "") or ""
        if not isinstance(manual_reason, str):
            problem("manual_reason", "must be text")
            manual_reason = ""
        elif manual_reason.strip() and entry.get("kind") != "manual":
            # The reason says why no record or file can judge the check: an automated check
            # has none, and a stale one left behind after automating it would mislead.
            problem("manual_reason", "only a manual check says why a person must judge it")
        if entry.get("category") not in categories:
            problem("category", f"must be one of the categories: {', '.join(sorted(categories))}")
        if entry.get("severity") not in Severity.values:
            problem("severity", f"must be one of {', '.join(Severity.values)}")
        phase = entry.get("phase", Phase.PRE_DEPLOY_WEEK)
        if phase not in Phase.values:
            problem("phase", f"must be one of {', '.join(Phase.values)}")
        if not isinstance(entry.get("checklist", False), bool):
            problem("checklist", "must be true or false")
        envs = entry.get("environments", [])
        if not isinstance(envs, list) or not all(isinstance(e, str) for e in envs):
            problem("environments", "must be a list of environment slugs")
            envs = []
        for slug in envs:
            if slug not in environments:
                problem("environments", f"no environment {slug!r} in this project")
        kind, config = entry.get("kind"), entry.get("config", {}) or {}
        if kind not in REGISTRY:
            problem("kind", f"must be one of {', '.join(sorted(REGISTRY))}")
        else:
            try:
                config = REGISTRY[kind].validate(config)
            except ConfigError as exc:
                problem(f"config.{exc.field}", exc.message)
            else:
                named = config.get("environment")
                if isinstance(named, str) and named not in environments:
                    problem("config.environment", f"no environment {named!r} in this project")
                if kind == "repository" and "path" not in config and not has_repository:
                    problem(
                        "config.path",
                        "is required: where the tree is under PREFLIGHT_REPOSITORY_ROOT "
                        "(or name the project's repository, and path is within its commits)",
                    )
        parsed.append(
            {
                "code": code,
                "title": (entry.get("title") or "").strip()
                if isinstance(entry.get("title"), str)
                else "",
                "category": entry.get("category"),
                "section": entry.get("section", "") or "",
                "severity": entry.get("severity"),
                "phase": phase,
                "in_checklist": entry.get("checklist", False) is True,
                "kind": kind,
                "manual_reason": " ".join(manual_reason.split()),
                "impact": entry.get("impact", "") or "",
                "action": (entry.get("action") or "").strip()
                if isinstance(entry.get("action"), str)
                else "",
                "environments": sorted(envs),
                "config": config,
                "position": index,
            }
        )
    for name, kind_def in sorted(REGISTRY.items()):
        if kind_def.validate_catalog is None:
            continue
        of_kind = [(c["code"], c["config"]) for c in parsed if c["kind"] == name]
        positions = {c["code"]: c["position"] for c in parsed}
        if of_kind:
            for code, key, message in kind_def.validate_catalog(
                of_kind, has_repository=has_repository
            ):
                errors.append(f"checks[{positions[code]}] ({code}) field config.{key}: {message}")
    return parsed


def import_catalog(
    *, actor: Actor, project: Project, text: str, check_access: bool = True
) -> ImportSummary:
    """Validate the whole file, then apply it in one transaction. ``check_access=False`` is for
    operators at the command line."""
    with audit.refusals_recorded(
        actor=actor, action="catalog.imported", obj=project, project_id=project.pk
    ):
        if check_access:
            require(actor, project, Permission.MANAGE)
    parsed = parse_catalog(text, project)
    summary = ImportSummary()
    with transaction.atomic():
        if project.repository != parsed.repository:
            before = dict(project.repository)
            project.repository = parsed.repository
            project.save(update_fields=["repository"])
            summary.repository_changed = True
        else:
            before = None
        categories = _apply_categories(project, parsed.categories, summary)
        environments = {e.slug: e for e in project.environments.all()}
        existing = {
            c.code: c
            for c in Check.objects.filter(project=project).prefetch_related("environments")
        }
        for entry in parsed.checks:
            _apply_check(
                project, entry, existing.get(entry["code"]), categories, environments, summary
            )
        listed = {entry["code"] for entry in parsed.checks}
        for code, check in existing.items():
            if code not in listed and check.is_active:
                check.is_active = False
                check.save(update_fields=["is_active"])
                summary.deactivated.append(code)
        _retire_categories(project, {c["key"] for c in parsed.categories}, summary)
        summary.review_changed = _apply_review(project, parsed.review)
        if summary.changed:
            audit.record(
                actor=actor,
                action="catalog.imported",
                obj=project,
                project_id=project.pk,
                after={
                    "created": summary.created,
                    "updated": summary.updated,
                    "deactivated": summary.deactivated,
                    "categories": summary.categories_changed,
                    **(
                        {"repository": {"before": before, "after": parsed.repository}}
                        if summary.repository_changed
                        else {}
                    ),
                }
                | ({"review": True} if summary.review_changed else {}),
            )
    return summary


def _apply_review(project: Project, review: dict[str, Any] | None) -> bool:
    """Keep the review's figures as the file gives them; a file without any removes them."""
    current = ReviewBaseline.objects.filter(project=project).first()
    if review is None:
        if current is None:
            return False
        current.delete()
        return True
    if current is None:
        ReviewBaseline.objects.create(project=project, **review)
        return True
    if all(getattr(current, k) == v for k, v in review.items()):
        return False
    for k, v in review.items():
        setattr(current, k, v)
    current.save()
    return True


def _apply_categories(
    project: Project, entries: list[dict[str, Any]], summary: ImportSummary
) -> dict[str, Category]:
    existing = {c.key: c for c in Category.objects.filter(project=project)}
    result = {}
    for entry in entries:
        category = existing.get(entry["key"])
        if category is None:
            category = Category.objects.create(project=project, **entry)
            summary.categories_changed.append(entry["key"])
        elif any(getattr(category, k) != v for k, v in entry.items()):
            for k, v in entry.items():
                setattr(category, k, v)
            category.save()
            summary.categories_changed.append(entry["key"])
        result[entry["key"]] = category
    return result


def _retire_categories(project: Project, listed: set[str], summary: ImportSummary) -> None:
    for category in Category.objects.filter(project=project).exclude(key__in=listed):
        # Results keep the category their check had when the run started, so a category whose
        # checks all moved elsewhere may still be what finished runs are scored by.
        if (
            not category.checks.exists()
            and not CheckResult.objects.filter(category=category).exists()
        ):
            category.delete()
            summary.categories_changed.append(category.key)
        elif category.weight:
            # Past results still point at it; weight 0 keeps it out of every score.
            category.weight = 0
            category.save(update_fields=["weight"])
            summary.categories_changed.append(category.key)


def _apply_check(
    project: Project,
    entry: dict[str, Any],
    check: Check | None,
    categories: dict[str, Category],
    environments: dict[str, Any],
    summary: ImportSummary,
) -> None:
    values = {k: v for k, v in entry.items() if k not in ("code", "category", "environments")}
    values["category"] = categories[entry["category"]]
    values["is_active"] = True
    if check is None:
        check = Check.objects.create(project=project, code=entry["code"], **values)
        summary.created.append(entry["code"])
    else:
        current_envs = sorted(e.slug for e in check.environments.all())
        if (
            all(getattr(check, k) == v for k, v in values.items())
            and current_envs == entry["environments"]
        ):
            summary.unchanged.append(entry["code"])
            return
        for k, v in values.items():
            setattr(check, k, v)
        check.save()
        summary.updated.append(entry["code"])
    check.environments.set([environments[slug] for slug in entry["environments"]])
