"""What the API reads and answers. Input serializers check shapes and types only; the services
check the rules. Output serializers describe the answers for the schema."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.models import AuditEvent
from backups.models import Backup, RestoreDrill
from checks.models import ReadinessRun, ResultStatus, Severity, Source
from checks.services.results import REPORTABLE
from core import text
from releases.models import Decision, DeploymentStatus, Strategy


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The input's values, or a 400 with per-field messages."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- errors -----------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. invalid, not_found.")
    detail = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(  # type: ignore[assignment]  # the body's key, not Serializer.fields
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages (400).",
    )


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class GateClosedSerializer(ErrorSerializer):
    reasons = ReasonSerializer(many=True)


class HoldSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="deployment_in_progress, locked or frozen")
    message = serializers.CharField()
    holder = serializers.CharField()


class ConflictSerializer(ErrorSerializer):
    holder = serializers.CharField(required=False, help_text="Who or what holds the environment.")
    holds = HoldSerializer(many=True, required=False)
    existing_git_sha = serializers.CharField(
        required=False, help_text="version_conflict: the commit the version is registered for."
    )


# --- releases ---------------------------------------------------------------------------------


class ReleaseInput(serializers.Serializer):
    version = serializers.CharField(max_length=100)
    git_sha = serializers.CharField(max_length=64)
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=text.NOTES
    )


class ReleaseSerializer(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    version = serializers.CharField()
    git_sha = serializers.CharField()
    notes = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_created_by(self, release: Any) -> str | None:
        if release.created_by_id:
            return str(release.created_by.get_username())
        return None


class RunSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ReadinessRun.Status.choices)
    score = serializers.DecimalField(
        allow_null=True, max_digits=4, decimal_places=1, coerce_to_string=False
    )
    finished_at = serializers.DateTimeField(allow_null=True)


class DeploymentSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)
    started_at = serializers.DateTimeField()


class StaleApprovalSerializer(serializers.Serializer):
    approver = serializers.CharField()
    reason = serializers.CharField(
        help_text="What moved since the approval: e.g. score 92.0 → 88.5; DS-003 pass → fail."
    )


class EnvironmentStateSerializer(serializers.Serializer):
    environment = serializers.CharField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    latest_run = RunSummarySerializer(allow_null=True)
    latest_deployment = DeploymentSummarySerializer(allow_null=True)
    approvals = serializers.IntegerField(help_text="People whose latest decision is approve.")
    rejections = serializers.IntegerField(help_text="People whose latest decision is reject.")
    stale_approvals = StaleApprovalSerializer(
        many=True,
        help_text="Approvals that no longer count because the evidence got worse or aged out.",
    )


class ReleaseDetailSerializer(ReleaseSerializer):
    environments = EnvironmentStateSerializer(many=True)


# --- runs -------------------------------------------------------------------------------------


class RunInput(serializers.Serializer):
    environment = serializers.CharField(max_length=63)


class RunQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ReadinessRun.Status.choices)


class CategoryScoreSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    weight = serializers.IntegerField()
    score = serializers.DecimalField(
        allow_null=True, max_digits=4, decimal_places=1, coerce_to_string=False
    )


class RiskRowSerializer(serializers.Serializer):
    category = serializers.CharField(help_text="A category key, or TOTAL on the last row.")
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    total = serializers.IntegerField()


class SectionRiskRowSerializer(serializers.Serializer):
    section = serializers.CharField(
        help_text="A section of the review (a check's section, else its category's name), or "
        "TOTAL on the last row."
    )
    critical = serializers.IntegerField(help_text="Open gaps: fail, error or pending.")
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    total = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="How many of the total are not done yet.")
    waived = serializers.IntegerField(help_text="Waived gaps, counted apart: not in the total.")


class SourceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=Source.choices,
        help_text="worker (an automated check), person (a tick), pipeline (a service token), "
        "legacy (recorded before sources were kept).",
    )
    user = serializers.CharField(allow_null=True, help_text="Who ticked.")
    token = serializers.CharField(allow_null=True, help_text="The service token that reported.")
    attested_by = serializers.CharField(
        allow_null=True, help_text="Who attested a tick by the release's creator."
    )


class ResultSerializer(serializers.Serializer):
    check = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    detail = serializers.CharField()
    source = SourceSerializer()  # type: ignore[assignment]  # a field named like Field.source


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ReadinessRun.Kind.choices)
    version = serializers.CharField()
    environment = serializers.CharField()
    status = serializers.ChoiceField(choices=ReadinessRun.Status.choices)
    score = serializers.DecimalField(
        allow_null=True,
        help_text="Null until the run finishes.",
        max_digits=4,
        decimal_places=1,
        coerce_to_string=False,
    )
    categories = CategoryScoreSerializer(many=True)
    risk_summary = RiskRowSerializer(many=True)
    risk_summary_sections = SectionRiskRowSerializer(
        many=True,
        help_text="The risk summary by the review's sections, as the readiness report has it, "
        "with pending and waived gaps counted.",
    )
    results = ResultSerializer(many=True)


# --- the gate ---------------------------------------------------------------------------------


class GateQuery(serializers.Serializer):
    environment = serializers.CharField(max_length=63)


class BlockerSerializer(serializers.Serializer):
    check = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    status = serializers.ChoiceField(choices=ResultStatus.choices)


class ApprovalCountSerializer(serializers.Serializer):
    required = serializers.IntegerField()  # type: ignore[assignment]  # a field named like Field.required
    granted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class GateSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    score = serializers.DecimalField(
        allow_null=True, max_digits=4, decimal_places=1, coerce_to_string=False
    )
    min_score = serializers.DecimalField(max_digits=4, decimal_places=1, coerce_to_string=False)
    blockers = BlockerSerializer(many=True)
    approvals = ApprovalCountSerializer()
    reasons = ReasonSerializer(many=True)


# --- approvals --------------------------------------------------------------------------------


class ApprovalInput(serializers.Serializer):
    environment = serializers.CharField(max_length=63)
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=text.COMMENT
    )


class ApprovalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField(source="release.version")
    environment = serializers.CharField(source="environment.slug")
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField()
    approver = serializers.CharField(source="approver.username")
    run = serializers.IntegerField(source="run_id", allow_null=True)
    created_at = serializers.DateTimeField()


# --- check results ----------------------------------------------------------------------------


class CheckResultInput(serializers.Serializer):
    version = serializers.CharField(max_length=100)
    environment = serializers.CharField(max_length=63)
    check = serializers.CharField(max_length=30)
    status = serializers.ChoiceField(choices=REPORTABLE)
    detail = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=text.NOTES
    )
    url = serializers.URLField(required=False, allow_blank=True, default="", max_length=text.LINK)


class CheckResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField(source="release.version")
    environment = serializers.CharField(source="environment.slug")
    check = serializers.CharField(source="check_item.code")
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    detail = serializers.CharField()
    url = serializers.CharField()
    reported_by = serializers.CharField(source="reported_by_label")
    created_at = serializers.DateTimeField()


# --- deployments ------------------------------------------------------------------------------


class DeploymentInput(serializers.Serializer):
    version = serializers.CharField(max_length=100)
    environment = serializers.CharField(max_length=63)
    strategy = serializers.ChoiceField(choices=Strategy.choices, default=Strategy.ROLLING)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=text.REASON,
        help_text="Break glass: admins only, starts with the gate closed; audited and announced.",
    )


class FinishInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    detail = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=text.NOTES
    )


class RollbackInput(serializers.Serializer):
    reason = serializers.CharField(max_length=text.REASON)


class DeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField(source="release.version")
    environment = serializers.CharField(source="environment.slug")
    strategy = serializers.ChoiceField(choices=Strategy.choices)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)
    status_detail = serializers.CharField()
    override = serializers.BooleanField(source="is_override")
    override_reason = serializers.CharField()
    rollback_of = serializers.IntegerField(source="rollback_of_id", allow_null=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True)


# --- backups ----------------------------------------------------------------------------------


class BackupInput(serializers.Serializer):
    database = serializers.CharField(max_length=63)
    kind = serializers.ChoiceField(choices=Backup.Kind.choices, default=Backup.Kind.FULL)
    status = serializers.ChoiceField(choices=Backup.Status.choices, default=Backup.Status.SUCCEEDED)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    size_bytes = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=2**63 - 1
    )
    sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    location = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    encrypted = serializers.BooleanField(required=False, default=False)


class BackupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    database = serializers.CharField(source="database.name")
    kind = serializers.ChoiceField(choices=Backup.Kind.choices)
    status = serializers.ChoiceField(choices=Backup.Status.choices)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    location = serializers.CharField()
    encrypted = serializers.BooleanField()
    verified = serializers.BooleanField()


# --- audit events -----------------------------------------------------------------------------


class AuditQuery(serializers.Serializer):
    action = serializers.CharField(required=False, max_length=100)
    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices, required=False)
    actor = serializers.CharField(required=False, max_length=200)
    object_type = serializers.CharField(required=False, max_length=100)
    object_id = serializers.CharField(required=False, max_length=100)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class AuditEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices)
    message = serializers.CharField()
    ip = serializers.CharField()
    request_id = serializers.CharField()
    hash = serializers.CharField()


# --- restore drills ---------------------------------------------------------------------------


class DrillInput(serializers.Serializer):
    backup = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="The backup to restore (default: the latest verified one Preflight took, "
        "or a fresh one when that is missing or too old).",
    )


class DrillSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    database = serializers.CharField(source="database.name")
    backup = serializers.IntegerField(source="backup_id", allow_null=True)
    status = serializers.ChoiceField(choices=RestoreDrill.Status.choices)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    restore_seconds = serializers.FloatField(allow_null=True, help_text="Measured RTO.")
    data_age_seconds = serializers.FloatField(allow_null=True, help_text="Measured RPO.")
    validations = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField()
