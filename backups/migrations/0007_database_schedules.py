# Each database gets its own backup, drill and WAL schedules. The defaults are the one schedule
# every database had until now (backups at 02:00, drills at 04:00, WAL sampled every minute), so
# existing databases and new ones go on exactly as before.

from django.db import migrations, models

import backups.schedules


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0006_database_retention_default"),
    ]

    operations = [
        migrations.AddField(
            model_name="database",
            name="backup_schedule",
            field=models.CharField(
                blank=True,
                default="0 2 * * *",
                help_text="When Preflight takes a backup. Five cron fields (minute hour day-of-month month day-of-week, server time zone), “every N seconds/minutes/hours”, or empty for never.",
                max_length=100,
                validators=[backups.schedules.validate],
            ),
        ),
        migrations.AddField(
            model_name="database",
            name="drill_schedule",
            field=models.CharField(
                blank=True,
                default="0 4 * * *",
                help_text="When Preflight runs a restore drill. Five cron fields (minute hour day-of-month month day-of-week, server time zone), “every N seconds/minutes/hours”, or empty for never.",
                max_length=100,
                validators=[backups.schedules.validate],
            ),
        ),
        migrations.AddField(
            model_name="database",
            name="wal_schedule",
            field=models.CharField(
                blank=True,
                default="every 60 seconds",
                help_text="When Preflight samples WAL archiving. Five cron fields (minute hour day-of-month month day-of-week, server time zone), “every N seconds/minutes/hours”, or empty for never.",
                max_length=100,
                validators=[backups.schedules.validate],
            ),
        ),
    ]
