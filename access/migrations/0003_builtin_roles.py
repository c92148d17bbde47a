"""The built-in roles with Proxmox's privilege sets (kept current when the list changes)."""

from django.db import migrations

from access.choices import BUILTIN_ROLES


def create_builtin_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for name, privileges in BUILTIN_ROLES.items():
        Role.objects.update_or_create(name=name, defaults={"privileges": sorted(privileges), "builtin": True})


def remove_builtin_roles(apps, schema_editor):
    apps.get_model("access", "Role").objects.filter(builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("access", "0002_acl_roles_tokens_audit")]
    operations = [migrations.RunPython(create_builtin_roles, remove_builtin_roles)]
