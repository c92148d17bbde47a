from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("nodes", "0005_cpuinfo_memory_available"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="network",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
