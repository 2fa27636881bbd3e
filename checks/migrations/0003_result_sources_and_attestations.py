"""Who produced each result: results already recorded keep their status and say their source is
unknown (legacy); new results default to the worker. Reports keep the reporting token.
Attestations: four eyes on a creator's tick of a critical check."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0002_initial"),
        ("releases", "0002_idempotency_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="checkresult",
            name="attested_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The second person who confirmed a creator's tick of a critical check.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Existing rows become legacy (the default while the column is added), new ones worker.
        migrations.AddField(
            model_name="checkresult",
            name="source",
            field=models.CharField(
                choices=[
                    ("worker", "Worker"),
                    ("person", "Person"),
                    ("pipeline", "Pipeline"),
                    ("legacy", "unknown (recorded before sources were kept)"),
                ],
                default="legacy",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="checkresult",
            name="source",
            field=models.CharField(
                choices=[
                    ("worker", "Worker"),
                    ("person", "Person"),
                    ("pipeline", "Pipeline"),
                    ("legacy", "unknown (recorded before sources were kept)"),
                ],
                default="worker",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="checkresult",
            name="source_token",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="releases.apitoken",
            ),
        ),
        migrations.AddField(
            model_name="checkresult",
            name="source_user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="reportedresult",
            name="token",
            field=models.ForeignKey(
                blank=True,
                help_text="The pipeline's service token; empty for reports recorded before it was kept.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="releases.apitoken",
            ),
        ),
        migrations.CreateModel(
            name="Attestation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("note", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("withdrawn_at", models.DateTimeField(blank=True, null=True)),
                (
                    "attested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "tick",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attestations",
                        to="checks.manualtick",
                    ),
                ),
                (
                    "withdrawn_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("withdrawn_at__isnull", True)),
                        fields=("tick",),
                        name="one_open_attestation_per_tick",
                    )
                ],
            },
        ),
    ]
