"""What goes when a guest goes (Proxmox's purge): its row and pool membership, its ACL entries, its history.
Its VMID may be given to the next guest: nothing of this one may attach to that one. Its tasks stay, as
Proxmox keeps task logs, but no longer point to it."""

from __future__ import annotations

from django.db import transaction

from access.models import AclEntry
from cluster.events import publish_guest_gone
from metrics.store import forget

from .models import Guest


def purge(guest: Guest) -> None:
    """Delete ``guest`` and everything that names its VMID (deleted by a task, or gone from its engine)."""
    with transaction.atomic():
        AclEntry.objects.filter(path=f"/vms/{guest.vmid}").delete()
        forget("guest", str(guest.vmid))
        Guest.objects.filter(pk=guest.pk).delete()
        publish_guest_gone(guest.node.name, guest.vmid, guest.pool.name if guest.pool_id else None)
