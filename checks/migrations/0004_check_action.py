"""A check says what to do about it in the review's words; reports list that wording in the
priorities and checklists, falling back to the title for checks that have none."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("checks", "0003_result_sources_and_attestations"),
    ]

    operations = [
        migrations.AddField(
            model_name="check",
            name="action",
            field=models.CharField(
                blank=True,
                help_text="What to do about it, in the review's words, e.g. Create and test deploy.ps1.",
                max_length=200,
            ),
        ),
    ]
