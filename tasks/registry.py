"""Task types: each registers the function a node's worker runs for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import TaskContext

Operation = Callable[["TaskContext"], str | None]


@dataclass(frozen=True)
class TaskType:
    name: str
    run: Operation
    label: str
    # Proxmox's name of the task, as its UPIDs and task lists carry it: one for a node's task, or a VM's and
    # a container's (("qmstart", "vzstart")).
    proxmox: str | tuple[str, str]

    def proxmox_name(self, guest_kind: str | None) -> str:
        if isinstance(self.proxmox, str):
            return self.proxmox
        vm, ct = self.proxmox
        return ct if guest_kind == "ct" else vm


_types: dict[str, TaskType] = {}


def register(name: str, label: str, proxmox: str | tuple[str, str]) -> Callable[[Operation], Operation]:
    def decorator(run: Operation) -> Operation:
        if name in _types:
            raise ValueError(f"task type {name!r} registered twice")
        _types[name] = TaskType(name, run, label, proxmox)
        return run

    return decorator


def get_task_type(name: str) -> TaskType:
    try:
        return _types[name]
    except KeyError:
        raise LookupError(f"unknown task type {name!r}") from None
