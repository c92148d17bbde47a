from django.db import migrations, models


class Migration(migrations.Migration):
    """A running task's lease, when its message reached the broker, and whether it stops when cancelled."""

    dependencies = [
        ("tasks", "0002_task_cancel_and_worker"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="lease_renewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="task",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="task",
            name="cancellable",
            field=models.BooleanField(default=False),
        ),
    ]
