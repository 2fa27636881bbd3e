"""A manual check can say why a person must judge it: the catalog's ``manual_reason``."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0005_reviewbaseline"),
    ]

    operations = [
        migrations.AddField(
            model_name="check",
            name="manual_reason",
            field=models.TextField(
                blank=True,
                help_text="For a manual check: why a person must judge it (no record or file shows it).",
            ),
        ),
    ]
