from django.db import migrations


def drop_beat_polls(apps, schema_editor):
    """Polls are no longer queued by beat: each node's worker runs its own collector (nodes/collector.py)."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="nodes.poll_node").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("nodes", "0003_vm_bridge"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(drop_beat_polls, migrations.RunPython.noop)]
