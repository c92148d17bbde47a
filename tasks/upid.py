"""Proxmox task ids: ``UPID:node:pid:pstart:starttime:type:id:user:`` with hex numbers."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

_sequence = itertools.count()


@dataclass(frozen=True)
class Upid:
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str

    def __str__(self) -> str:
        return (
            f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.starttime:08X}:"
            f"{self.type}:{self.id}:{self.user}:"
        )

    @classmethod
    def parse(cls, text: str) -> Upid:
        parts = text.split(":")
        if len(parts) != 9 or parts[0] != "UPID" or parts[8] != "":
            raise ValueError(f"not a UPID: {text!r}")
        _, node, pid, pstart, starttime, type_, id_, user, _ = parts
        return cls(node, int(pid, 16), int(pstart, 16), int(starttime, 16), type_, id_, user)


def new_upid(node: str, type_: str, id_: str, user: str) -> str:
    """A fresh UPID. The id is made where the task is submitted, so pstart carries a per-process
    sequence (Proxmox puts the worker's process start time there) to keep ids unique."""
    return str(Upid(node, os.getpid(), next(_sequence) & 0xFFFFFFFF, int(time.time()), type_, id_, user))
