"""Approvals record the evidence they were given on: the run's score and each check's status.

Approvals recorded before this keep counting: their snapshot is taken from their run as it stands
when this migration runs (its stored score; each result's status with the waivers in force
applied, as ``checks.evaluation`` does), so only evidence getting worse from now on makes them
stale."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

WAIVABLE = {"fail", "error", "pending"}


def snapshot_existing_approvals(apps, schema_editor):
    Approval = apps.get_model("releases", "Approval")
    CheckResult = apps.get_model("checks", "CheckResult")
    Waiver = apps.get_model("checks", "Waiver")
    now = timezone.now()
    waived = {}  # release id -> ids of checks with a waiver in force
    for approval in Approval.objects.filter(run__isnull=False).select_related("run").iterator():
        run = approval.run
        if run.release_id not in waived:
            waived[run.release_id] = set(
                Waiver.objects.filter(
                    release_id=run.release_id, revoked_at__isnull=True, expires_at__gt=now
                ).values_list("check_item_id", flat=True)
            )
        evidence = {}
        for code, check_id, severity, status in CheckResult.objects.filter(run=run).values_list(
            "check_item__code", "check_item_id", "severity", "status"
        ):
            if severity != "critical" and status in WAIVABLE and check_id in waived[run.release_id]:
                status = "waived"
            evidence[code] = status
        approval.score = run.score
        approval.evidence = evidence
        approval.save(update_fields=["score", "evidence"])


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0003_result_sources_and_attestations"),
        ("releases", "0005_deployment_recorded_after_the_fact"),
    ]

    operations = [
        migrations.AddField(
            model_name="approval",
            name="evidence",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Each check's status (by code) in the run when the decision was recorded.",
            ),
        ),
        migrations.AddField(
            model_name="approval",
            name="score",
            field=models.DecimalField(
                blank=True,
                decimal_places=1,
                help_text="The run's score when the decision was recorded.",
                max_digits=4,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="approval",
            name="run",
            field=models.ForeignKey(
                blank=True,
                help_text="The readiness run the approver saw.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="checks.readinessrun",
            ),
        ),
        migrations.RunPython(snapshot_existing_approvals, migrations.RunPython.noop),
    ]
