"""A container's volumes and the copy of their data through the engine's archive calls, shared by a migration
(to another engine), a snapshot (into volumes of its own) and its rollback, and a clone.

Data is read with ``get_archive`` on the container that mounts a volume (running, stopped or only created) and
written with ``put_archive`` into a container that is created with the target volumes mounted and never started
(the "filler"), without Docker's copy of the image's files into a new volume (``NoCopy``): the target then holds
exactly what the source held.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..base import Progress
from ..errors import DriverError
from .archive import CHUNK, ArchiveSummary, summarized
from .client import DockerEngine

FILLER_LABEL = "panel.migration-filler"  # the container that writes volumes: created, never started


@dataclass
class Volume:
    name: str  # on the source
    destination: str
    named: bool  # named volumes keep their name; anonymous ones get a new one, and go with their container
    read_only: bool
    labels: dict[str, str] = field(default_factory=dict)
    target_name: str = ""
    summary: ArchiveSummary = field(default_factory=ArchiveSummary)

    @property
    def label(self) -> str:
        return f"volume {self.name}" if self.named else f"anonymous volume at {self.destination}"

    def mount(self) -> dict:
        """How a new container mounts it: a named volume by its name, an anonymous one as a new one."""
        mount = {"Type": "volume", "Target": self.destination, "ReadOnly": self.read_only,
                 "VolumeOptions": {"NoCopy": True}}
        if self.named:
            mount["Source"] = self.name
        elif self.labels:
            mount["VolumeOptions"]["Labels"] = self.labels
        return mount


def volumes_of(attrs: dict) -> list[Volume]:
    """The volumes a container mounts, from its inspect record; named ones are those its HostConfig names."""
    host_config = attrs.get("HostConfig") or {}
    named = {bind.split(":")[1] for bind in host_config.get("Binds") or []
             if ":" in bind and not bind.startswith("/")}
    named |= {m.get("Target") for m in host_config.get("Mounts") or []
              if m.get("Type") == "volume" and m.get("Source")}
    return [Volume(m["Name"], m["Destination"], m["Destination"] in named, not m.get("RW", True))
            for m in attrs.get("Mounts") or [] if m.get("Type") == "volume"]


def mounted_volume_names(engine: DockerEngine, container_id: str) -> dict[str, str]:
    """{destination: volume name} of a container's volumes (the names the engine gave anonymous ones)."""
    return {m["Destination"]: m["Name"] for m in engine.client.api.inspect_container(container_id)["Mounts"]
            if m.get("Type") == "volume"}


def read_stream(engine: DockerEngine, open_stream: Callable[[], Iterable[bytes]], what: str) -> Iterator[bytes]:
    """The chunks of a stream from ``engine``, its errors translated as they come."""
    with engine.errors(what):
        yield from open_stream()


def read_volume(engine: DockerEngine, container_id: str, destination: str, what: str) -> Iterator[bytes]:
    """The tar of the volume mounted at ``destination`` in a container (its top entry: the mount point's name)."""
    return read_stream(engine, lambda: engine.client.api.get_archive(container_id, destination,
                                                                      chunk_size=CHUNK)[0], what)


def fill_volumes(engine: DockerEngine, image: str, targets: list[tuple[Volume, str]],
                 read: Callable[[Volume], Iterable[bytes]], progress: Progress, owner: str) -> None:
    """Write into each target volume (``(volume, target volume name)``) what ``read(volume)`` gives, through a
    filler container made from ``image`` (any image of the engine: it never runs), summing each copy up into
    ``volume.summary``. ``owner`` names the container the data is for."""
    if not targets:
        return
    with engine.errors(f"the container that writes the volumes of {owner}"):
        filler = engine.client.api.create_container_from_config({
            "Image": image, "Cmd": ["never-started"], "Labels": {FILLER_LABEL: owner},
            "HostConfig": {"NetworkMode": "none", "Mounts": [
                {"Type": "volume", "Source": name, "Target": volume.destination,
                 "VolumeOptions": {"NoCopy": True}} for volume, name in targets]},
        })["Id"]
    try:
        for volume, _name in targets:
            progress(f"copying {volume.label} ({volume.destination})")
            with engine.errors(f"{volume.label} of {owner}"):
                if not engine.client.api.put_archive(filler, posixpath.dirname(volume.destination),
                                                     summarized(read(volume), volume.summary)):
                    raise DriverError(f"the engine did not write {volume.label} of {owner}")
            progress(f"copied {volume.label}: {volume.summary}")
    finally:
        try:
            with engine.errors("the container that wrote the volumes"):
                engine.client.api.remove_container(filler, force=True)
        except DriverError as exc:
            progress(f"warning: could not remove the container that wrote the volumes: {exc.message}")
