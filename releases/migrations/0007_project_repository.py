from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0006_approval_evidence_snapshot"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="repository",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
