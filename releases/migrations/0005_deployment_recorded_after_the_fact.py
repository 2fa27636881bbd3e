from django.db import migrations, models
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast

# The services audit every deployment they create under one of these actions; a deployment
# without such an event was written straight into the table (the demo's seeded history).
CREATED_BY_A_SERVICE = ("deployment.started", "deployment.override", "rollback.started")


def mark_records_without_a_start(apps, schema_editor):
    Deployment = apps.get_model("releases", "Deployment")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    started = AuditEvent.objects.filter(
        object_type="releases.deployment",
        object_id=Cast(OuterRef("pk"), CharField()),
        action__in=CREATED_BY_A_SERVICE,
        outcome="success",
    )
    Deployment.objects.filter(~Exists(started)).update(recorded_after_the_fact=True)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_log_filter_indexes"),
        ("releases", "0004_idempotency_final_answers_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="recorded_after_the_fact",
            field=models.BooleanField(
                default=False,
                help_text="Written into the history after it happened (imported, the demo's past) instead of being started through Preflight: it never took the environment's lock or asked the gate.",
            ),
        ),
        migrations.RunPython(mark_records_without_a_start, migrations.RunPython.noop),
    ]
