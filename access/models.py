"""Access control, the Proxmox way: privileges, roles, ACL entries on paths, pools, API tokens, audit log."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from .choices import BUILTIN_ROLES, PRIVILEGES
from .identity import userid

# Proxmox's ACL paths (check_path), for what the panel has: a VMID as Proxmox writes it (no leading zero),
# so that a path matches in lists and checks alike.
ACL_PATH = re.compile(
    r"^/(?:|vms|vms/[1-9][0-9]{2,8}|nodes|nodes/[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?|pool|pool/[A-Za-z0-9._-]+"
    r"|storage|storage/[A-Za-z0-9][A-Za-z0-9._-]*|access|access/groups|access/groups/[A-Za-z0-9._-]+"
    r"|access/realm|access/realm/[A-Za-z][A-Za-z0-9._-]+)$"
)


def normalize_acl_path(path: str) -> str:
    """Proxmox's normalize_path: repeated slashes folded, no trailing slash, a leading one."""
    path = "/" + re.sub(r"/+", "/", str(path).strip()).strip("/")
    return path


def validate_acl_path(value: str) -> None:
    from django.core.exceptions import ValidationError

    if not ACL_PATH.match(value):
        raise ValidationError(f"invalid ACL path '{value}': a path such as /, /vms, /vms/101, /nodes/pve1, "
                              "/pool/team-a, /storage/local, /access/groups/admins")


def validate_privileges(value: object) -> None:
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or any(p not in PRIVILEGES for p in value):
        raise ValidationError(f"privileges must be a list of: {', '.join(PRIVILEGES)}")


# Proxmox's pool id (one level): letters, digits, '.', '_' and '-', starting with a letter.
validate_pool_name = RegexValidator(r"^[A-Za-z][A-Za-z0-9._-]{0,62}\Z",
                                    "a pool name: letters, digits, '.', '_' and '-', starting with a letter")


class Pool(models.Model):
    """A named set of guests (Proxmox's resource pool), with optional quotas (null: no limit)."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_pool_name])
    comment = models.CharField(max_length=255, blank=True)
    max_guests = models.PositiveIntegerField("max guests", null=True, blank=True)
    max_vcpus = models.PositiveIntegerField("max vCPUs", null=True, blank=True)
    max_memory_mib = models.PositiveIntegerField("max memory (MiB)", null=True, blank=True)
    max_disk_gib = models.PositiveIntegerField("max disk (GiB)", null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        return f"/pool/{self.name}"


class Role(models.Model):
    """A named set of privileges; the built-in ones come from a data migration and cannot be edited."""

    name = models.CharField(max_length=64, unique=True)
    privileges = models.JSONField(default=list, blank=True, validators=[validate_privileges])
    builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name



class ApiToken(models.Model):
    """``USER@pam!TOKENID``; the secret, a random UUID as Proxmox makes them (clients check that shape), is shown
    once and stored hashed (SHA-256)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    tokenid = models.CharField("token id", max_length=64, validators=[
        RegexValidator(r"^[A-Za-z][A-Za-z0-9._-]*$", "letters, digits, '.', '_' and '-', starting with a letter")])
    secret_hash = models.CharField(max_length=64, editable=False)
    privsep = models.BooleanField(
        "privilege separation", default=True,
        help_text="With privilege separation the token has only what its own ACL entries grant "
                  "(and never more than its user).")
    expires_at = models.DateTimeField(null=True, blank=True)
    comment = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username", "tokenid"]
        constraints = [models.UniqueConstraint(fields=["user", "tokenid"], name="token_unique_per_user")]

    def __str__(self) -> str:
        return self.full_id

    @property
    def full_id(self) -> str:
        return f"{userid(self.user.get_username())}!{self.tokenid}"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def set_new_secret(self) -> str:
        secret = str(uuid.uuid4())
        self.secret_hash = self.hash(secret)
        return secret

    def check_secret(self, secret: str) -> bool:
        return secrets.compare_digest(self.secret_hash, self.hash(secret))


class AclEntry(models.Model):
    """One grant: ``role`` on ``path`` to a user, a group or a (privilege-separated) token."""

    path = models.CharField(max_length=255, validators=[validate_acl_path])
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="acl_entries")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="acl_entries")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="acl_entries")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="acl_entries")
    propagate = models.BooleanField(default=True, help_text="Also applies below this path.")

    class Meta:
        ordering = ["path", "id"]
        verbose_name = "ACL entry"
        verbose_name_plural = "ACL entries"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True, token__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False, token__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=True, token__isnull=False)
                ),
                name="acl_exactly_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} {self.subject} {self.role}{'' if self.propagate else ' (no propagate)'}"

    @property
    def subject(self) -> str:
        if self.user_id:
            return userid(self.user.get_username())
        if self.group_id:
            return f"@{self.group.name}"
        return self.token.full_id


class AuditQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")

    def prune_anonymous(self, keep: int) -> int:
        """Drop the oldest rows of nobody's (failed logins, bad tokens) beyond the newest ``keep``: anybody
        can add those, and they must not grow without bound."""
        anonymous = self.filter(user__isnull=True)
        cutoff = anonymous.order_by("-id").values_list("id", flat=True)[keep:keep + 1].first()
        if cutoff is None:
            return 0
        return models.QuerySet.delete(anonymous.filter(id__lte=cutoff))[0]


class AuditEntry(models.Model):
    """Who did what, on which object, when, from where, and how it went; append-only."""

    class Result(models.TextChoices):
        OK = "ok"
        DENIED = "denied"
        FAILED = "failed"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    object = models.CharField(max_length=255, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    result = models.CharField(max_length=8, choices=Result.choices)
    detail = models.CharField(max_length=500, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "username", "address", "at"], name="audit_login_throttle")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object} {self.result}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")


class AccessVersion(models.Model):
    """One row: a number bumped by every change to who may do what (access/signals.py), so that processes
    keeping grants in memory know when to read them again."""

    number = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"access version {self.number}"

    @classmethod
    def current(cls) -> int:
        row = cls.objects.filter(pk=1).values_list("number", flat=True).first()
        return row or 0

    @classmethod
    def bump(cls) -> None:
        if not cls.objects.filter(pk=1).update(number=models.F("number") + 1):
            cls.objects.get_or_create(pk=1, defaults={"number": 1})


def builtin_role(name: str) -> Role:
    """A built-in role, created if missing (the data migration makes them; a flushed test database may not)."""
    role, _ = Role.objects.get_or_create(name=name, defaults={"privileges": BUILTIN_ROLES[name], "builtin": True})
    return role
