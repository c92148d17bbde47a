"""Access control. The foundation has pools only; roles, ACLs and tokens come with the access issue."""

from django.db import models

from nodes.validators import validate_dns_label


class Pool(models.Model):
    """A named set of guests (Proxmox's resource pool), the unit ACLs and quotas will apply to."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_dns_label])
    comment = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
