"""What the guest tests of the API share: a token client of a user, guests made through the services, refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from access.models import ApiToken
from guests.models import Guest
from guests.services import CreateRequest, request_create
from tests.support import CT_TEMPLATE, PREFIX, assert_ok, wait_for_task

MiB = 1024 * 1024


def token_client(proxmox: Callable[..., ProxmoxAPI], user, tokenid: str = "cfg") -> ProxmoxAPI:
    """A proxmoxer client of ``user`` through an API token of theirs (not privilege-separated)."""
    token = ApiToken(user=user, tokenid=tokenid, privsep=False)
    secret = token.set_new_secret()
    token.save()
    return proxmox(user=f"{user.username}@pam", token_name=tokenid, token_value=secret)


def made_container(user, node, name: str, memory_mib: int = 64) -> Guest:
    task = wait_for_task(request_create(user, CreateRequest(node=node, kind="ct", name=f"{PREFIX}{name}",
                                                            template=CT_TEMPLATE, vcpus=1, memory_mib=memory_mib)))
    assert_ok(task)
    return Guest.objects.get(vmid=task.vmid)


def refused(call: Callable[[], object]) -> ResourceException:
    with pytest.raises(ResourceException) as caught:
        call()
    return caught.value


def run(api: ProxmoxAPI, upid: str, type_: str, timeout: float = 120) -> dict:
    """Wait for a task with proxmoxer's own helper; it must be of Proxmox's ``type_`` and end OK."""
    assert upid.split(":")[5] == type_, upid
    status = Tasks.blocking_status(api, upid, timeout=timeout, polling_interval=0.2)
    assert status is not None and status["exitstatus"] == "OK", status
    return status
