"""Idempotency keys hold final answers only, written with the work they answer: the in-flight
state goes. Rows still in flight belong to requests that never finished; they are dropped, so a
retry runs."""

from django.db import migrations, models


def drop_unfinished(apps, schema_editor):
    IdempotencyKey = apps.get_model("releases", "IdempotencyKey")
    IdempotencyKey.objects.exclude(state="done").delete()
    IdempotencyKey.objects.filter(response_status__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0003_webhook_key_versions_and_message_ids"),
    ]

    operations = [
        migrations.RunPython(drop_unfinished, migrations.RunPython.noop),
        migrations.RemoveField(model_name="idempotencykey", name="state"),
        migrations.RemoveField(model_name="idempotencykey", name="completed_at"),
        migrations.AlterField(
            model_name="idempotencykey",
            name="response_status",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="fingerprint",
            field=models.CharField(
                help_text="sha256 of the method, the path and the body (as canonical JSON).",
                max_length=64,
            ),
        ),
    ]
