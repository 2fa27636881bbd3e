"""A catalog may carry the figures of the hand-written review it reproduces, so the report can
set its computed score beside the hand-assigned one."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0004_check_action"),
        ("releases", "0002_idempotency_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewBaseline",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("date", models.DateField()),
                ("score", models.DecimalField(decimal_places=1, max_digits=4)),
                ("title", models.CharField(blank=True, max_length=200)),
                ("categories", models.JSONField(blank=True, default=dict)),
                (
                    "project",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="review",
                        to="releases.project",
                    ),
                ),
            ],
        ),
    ]
