from django.db import migrations, models


class Migration(migrations.Migration):
    """A revision per guest row, bumped by tasks' engine readings: polls no longer overwrite newer ones."""

    dependencies = [
        ("guests", "0004_uptime_from_running_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="guest",
            name="revision",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
