from django.db import migrations, models

DEFAULT_RETENTION_DAYS = 30


def forget_untouched_defaults(apps, schema_editor):
    # Until now every database got 30 days whether anyone chose it or not; the value left as
    # it came is read as the default, so the readiness probe asks for an explicit choice.
    Database = apps.get_model("backups", "Database")
    Database.objects.filter(retention_days=DEFAULT_RETENTION_DAYS).update(retention_days=None)


def restore_defaults(apps, schema_editor):
    Database = apps.get_model("backups", "Database")
    Database.objects.filter(retention_days=None).update(retention_days=DEFAULT_RETENTION_DAYS)


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0005_wal_sample_name"),
    ]

    operations = [
        migrations.AlterField(
            model_name="database",
            name="retention_days",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                help_text="How long the backups Preflight takes are kept; empty: the default of 30 days.",
            ),
        ),
        migrations.RunPython(forget_untouched_defaults, restore_defaults),
    ]
