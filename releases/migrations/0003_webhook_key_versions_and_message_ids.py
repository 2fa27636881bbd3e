import uuid

from django.db import migrations, models


def give_each_delivery_a_message_id(apps, schema_editor):
    # One random id per existing delivery (a field default would give them all the same one).
    WebhookDelivery = apps.get_model("releases", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.filter(message_id__isnull=True).only("pk"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(message_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("releases", "0002_idempotency_keys")]

    operations = [
        migrations.AddField(
            model_name="webhook",
            name="key_version",
            field=models.PositiveIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="webhook",
            name="rotated_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="message_id",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(give_each_delivery_a_message_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="message_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["created_at"], name="delivery_age"),
        ),
    ]
