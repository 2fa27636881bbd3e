"""Verifications of the whole chain are stored, so the audit log page shows the newest one
instead of reading and hashing every event on each view."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_truncate_refused"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChainVerification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("verified_at", models.DateTimeField(db_index=True)),
                (
                    "head_seq",
                    models.PositiveBigIntegerField(
                        help_text="The last event the verification read."
                    ),
                ),
                ("checked", models.PositiveBigIntegerField(default=0)),
                ("ok", models.BooleanField()),
                (
                    "anchored_seq",
                    models.PositiveBigIntegerField(
                        blank=True,
                        help_text="The newest signed anchor the chain was found to hold.",
                        null=True,
                    ),
                ),
                ("detail", models.TextField(blank=True, help_text="What verify_audit printed.")),
            ],
            options={"ordering": ["-verified_at", "-id"]},
        ),
    ]
