from django.contrib import admin

from .models import AclEntry, ApiToken, AuditEntry, Pool, Role


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["name", "comment", "max_guests", "max_vcpus", "max_memory_mib", "max_disk_gib"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["name", "builtin"]


@admin.register(AclEntry)
class AclEntryAdmin(admin.ModelAdmin):
    list_display = ["path", "user", "group", "token", "role", "propagate"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "tokenid", "privsep", "expires_at"]
    readonly_fields = ["secret_hash"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "action", "object", "address", "result"]
    list_filter = ["result", "action"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # append-only: not even a superuser removes what happened
