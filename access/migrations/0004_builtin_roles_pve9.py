"""The built-in roles of Proxmox VE 9 (its whole privilege list), replacing the panel's earlier subset."""

from django.db import migrations

from access.choices import BUILTIN_ROLES


def update_builtin_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for name, privileges in BUILTIN_ROLES.items():
        Role.objects.update_or_create(name=name, defaults={"privileges": sorted(privileges), "builtin": True})


class Migration(migrations.Migration):
    dependencies = [("access", "0003_builtin_roles")]
    operations = [migrations.RunPython(update_builtin_roles, migrations.RunPython.noop)]
