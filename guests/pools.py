"""A pool's guests, as Proxmox's /pools reads and changes them: the pools a user may audit, their members, and
adding or taking out guests (each move is guests.services.move_to_pool, with its privileges and quota)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from access import permissions
from access.audit import audited
from access.models import Pool
from panel.errors import Conflict, Forbidden

from .models import Guest
from .services import move_to_pool


def may_audit_pool(user: AbstractBaseUser, pool: Pool) -> bool:
    """Proxmox lists a pool to who holds Pool.Audit (or Pool.Allocate) on /pool/<pool>."""
    held = permissions.privileges(user, pool.path)
    return bool(held & {"Pool.Audit", "Pool.Allocate"})


def pools_visible_to(user: AbstractBaseUser) -> list[Pool]:
    return [pool for pool in Pool.objects.all() if may_audit_pool(user, pool)]


def pool_visible_to(user: AbstractBaseUser, name: str) -> Pool | None:
    pool = Pool.objects.filter(name=name).first()
    return pool if pool is not None and may_audit_pool(user, pool) else None


def member_vmids(user: AbstractBaseUser, pool: Pool) -> list[int]:
    """The pool's guests the user may see (VM.Audit); the others are not named."""
    return list(pool.guests.visible_to(user).order_by("vmid").values_list("vmid", flat=True))


def change_members(user: AbstractBaseUser, pool: Pool, vmids: list[int], remove: bool = False,
                   allow_move: bool = False) -> None:
    """Put the guests ``vmids`` in ``pool`` (a guest of another pool only with ``allow_move``), or take them out
    with ``remove``; all or nothing. A VMID the user may not see is refused as one that does not exist."""
    verb = "remove from" if remove else "add to"
    with audited(user, "pool.members", f"{pool.name}: {verb} {','.join(map(str, vmids))}"), transaction.atomic():
        guests = {g.vmid: g for g in Guest.objects.select_related("pool", "node").visible_to(user)
                  .filter(vmid__in=vmids)}
        for vmid in vmids:
            guest = guests.get(vmid)
            if guest is None:
                raise Forbidden(f"you may not {verb} pool {pool.name} VMID {vmid}")
            if remove:
                if guest.pool_id != pool.pk:
                    raise Conflict(f"VM {vmid} is not a member of pool {pool.name}")
                move_to_pool(user, guest, None)
            elif guest.pool_id != pool.pk:
                if guest.pool_id is not None and not allow_move:
                    raise Conflict(f"VM {vmid} is already a pool member (of {guest.pool.name}); "
                                   "allow-move moves it")
                move_to_pool(user, guest, pool)
