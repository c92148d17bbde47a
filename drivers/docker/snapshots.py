"""Snapshots and clones of containers, through the engine's API only.

A snapshot of a container is an image, ``panel-snapshot/<container name>:<snapshot name>``, committed from it (its
file system and configuration), and one volume per volume of the container holding a copy of its data
(``<container name>.snap-<snapshot>-<n>``). The image's labels say whose it is and what it holds: the container's
whole configuration as the engine reported it (``Config``, ``HostConfig``, networks) and its volumes. A running
container is paused while it is taken, so that the file system and the volumes are of one instant.

A rollback removes the container (and its anonymous volumes), empties its named volumes (removed and made again,
with their labels), creates it again under the same name from the snapshot's image with the configuration of the
snapshot (the panel's VMID label with it) and writes the volumes' data back. It cannot be undone, as in Proxmox:
the present state is dropped; what can be checked (the snapshot's image and volumes are there, no other container
uses a named volume) is checked before anything is touched.

A clone is a new container made the same way from an image committed for it (``panel-clone/<name>:<vmid>``), with
copies of the volumes: named volumes get new names (``<clone name>-<volume name>``), published host ports and fixed
addresses are not copied (the two would clash).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import docker.errors
from docker.models.containers import Container
from docker.models.images import Image

from ..base import Progress
from ..errors import (
    DriverError,
    GuestAlreadyExists,
    SnapshotExists,
    SnapshotNotFound,
    SnapshotUnsupported,
)
from ..limits import check_guest_name, check_snapshot_description, check_snapshot_name
from ..types import CloneSpec, GuestInfo, PowerState, SnapshotInfo
from . import labels
from .migration import name_taken
from .recreate import create_like
from .volumes import FILLER_LABEL, Volume, fill_volumes, mounted_volume_names, read_volume, volumes_of

if TYPE_CHECKING:
    from .driver import DockerDriver

SNAPSHOT_REPOSITORY = "panel-snapshot"
CLONE_REPOSITORY = "panel-clone"
SNAPSHOT_LABELS = "panel.snapshot."


def repository_of(container_name: str) -> str:
    """Docker's repositories are lower case; a container name is a host name (letters, digits, '-', '.')."""
    return f"{SNAPSHOT_REPOSITORY}/{container_name.lower()}"


class ContainerSnapshots:
    def __init__(self, driver: DockerDriver) -> None:
        self.driver = driver
        self.engine = driver.engine

    @property
    def client(self) -> docker.DockerClient:
        return self.engine.client

    # -- reading ------------------------------------------------------------------------------

    def images(self, container_name: str) -> list[Image]:
        """The images of the container's snapshots: those still tagged as one (a deleted snapshot's image stays,
        untagged, while the container rolled back to it or a later snapshot is built on it)."""
        with self.engine.errors(f"the snapshots of container {container_name}"):
            images = self.client.images.list(filters={"label": f"{labels.SNAPSHOT_OF}={container_name}"})
        repository = repository_of(container_name)
        return [image for image in images
                if f"{repository}:{(image.labels or {}).get(labels.SNAPSHOT_NAME)}" in image.tags]

    def image(self, container_name: str, name: str) -> Image:
        for image in self.images(container_name):
            if (image.labels or {}).get(labels.SNAPSHOT_NAME) == name:
                return image
        raise SnapshotNotFound(f"container {container_name} has no snapshot '{name}'")

    def list(self, container: Container) -> list[SnapshotInfo]:
        infos = [_info(image) for image in self.images(container.name)]
        return sorted(infos, key=lambda s: (s.created, s.name))

    # -- taking -------------------------------------------------------------------------------

    def create(self, container: Container, name: str, description: str, progress: Progress) -> SnapshotInfo:
        check_snapshot_name(name)
        check_snapshot_description(description)
        label = f"container {container.name}"
        if any((i.labels or {}).get(labels.SNAPSHOT_NAME) == name for i in self.images(container.name)):
            raise SnapshotExists(f"snapshot name '{name}' is already used by {label}")
        attrs = container.attrs
        binds = [f"{m.get('Source')} at {m.get('Destination')}" for m in attrs.get("Mounts") or []
                 if m.get("Type") not in ("volume", "tmpfs")]
        if binds:
            raise SnapshotUnsupported(f"cannot snapshot {label}: the data of its bind mounts ({', '.join(binds)}) "
                                      "lives on the host, outside the container. Nothing was changed")
        volumes = volumes_of(attrs)
        with self.engine.errors(label):
            for volume in volumes:
                volume.labels = dict(self.client.volumes.get(volume.name).attrs.get("Labels") or {})
        made: list[str] = []
        image_id = ""
        try:
            with self._paused(container, progress):
                image_id = self._commit(container, name, description, volumes, made)
                progress(f"committed the file system and configuration of {label} as image {image_id[7:19]}")
                fill_volumes(self.engine, image_id, [(v, v.target_name) for v in volumes],
                             lambda v: read_volume(self.engine, container.id, v.destination, f"{v.label} of {label}"),
                             progress, label)
        except BaseException:
            self._remove(image_id, made, progress)
            raise
        return _info(self.client.images.get(image_id))

    @contextmanager
    def _paused(self, container: Container, progress: Progress) -> Iterator[None]:
        """The container frozen while the block runs, if it runs: one instant for its files and volumes."""
        state = self.driver.power_state(container.id)
        if state is not PowerState.RUNNING:
            yield
            return
        with self.engine.errors(f"container {container.name}"):
            container.pause()
        progress(f"paused container {container.name} while its snapshot is taken")
        try:
            yield
        finally:
            with self.engine.errors(f"container {container.name}"):
                container.unpause()
            progress(f"resumed container {container.name}")

    def _commit(self, container: Container, name: str, description: str, volumes: list[Volume],
                made: list[str]) -> str:
        """The snapshot's volumes (their names appended to ``made`` as they are made), then its image."""
        attrs = container.attrs
        for index, volume in enumerate(volumes):
            volume.target_name = f"{container.name}.snap-{name}-{index}"
            with self.engine.errors(f"the volume of snapshot {name}"):
                self.client.volumes.create(volume.target_name, driver="local", labels={
                    labels.SNAPSHOT_OF: container.name, labels.SNAPSHOT_NAME: name})
            made.append(volume.target_name)
        config = dict(attrs.get("Config") or {})
        recorded = {
            "Config": config,
            "HostConfig": attrs.get("HostConfig") or {},
            "Networks": (attrs.get("NetworkSettings") or {}).get("Networks") or {},
        }
        image_labels = dict(_not_a_template(config.get("Labels") or {}), **{
            labels.SNAPSHOT_OF: container.name,
            labels.SNAPSHOT_NAME: name,
            labels.SNAPSHOT_TIME: str(int(time.time())),
            labels.SNAPSHOT_DESCRIPTION: description,
            labels.SNAPSHOT_CONFIG: json.dumps(recorded, separators=(",", ":")),
            labels.SNAPSHOT_VOLUMES: json.dumps([_volume_record(v) for v in volumes], separators=(",", ":")),
        })
        with self.engine.errors(f"snapshot {name} of container {container.name}"):
            image = container.commit(repository=repository_of(container.name), tag=name, pause=False,
                                     message=f"snapshot {name} of container {container.name}",
                                     conf=dict(config, Labels=image_labels))
        return image.id

    # -- rolling back -------------------------------------------------------------------------

    def rollback(self, container: Container, name: str, progress: Progress) -> str:
        """Make the container what it was when the snapshot was taken; returns the id of the new container."""
        label = f"container {container.name}"
        image = self.image(container.name, name)
        recorded, volumes = _recorded(image)
        with self.engine.errors(label):
            existing = {v.name for v in self.client.volumes.list(filters={"label": f"{labels.SNAPSHOT_NAME}={name}"})}
            missing = [v.target_name for v in volumes if v.target_name not in existing]
            if missing:
                raise SnapshotUnsupported(f"cannot roll back {label} to snapshot {name}: the volumes holding its "
                                          f"data are missing ({', '.join(missing)}). Nothing was changed")
            for volume in volumes:
                if volume.named:
                    users = self.client.containers.list(all=True, filters={"volume": volume.name})
                    others = sorted(c.name for c in users if c.id != container.id)
                    if others:
                        raise SnapshotUnsupported(f"cannot roll back {label}: {volume.label} is also used by "
                                                  f"{', '.join(others)}. Nothing was changed")
        state = self.driver.power_state(container.id)
        if state is not PowerState.STOPPED:
            progress(f"stopping {label}")
            self.driver.stop(container.id)
        with self.engine.errors(label):
            container.remove(v=True)  # its anonymous volumes with it: the snapshot's copies replace them
            progress(f"removed the present state of {label}")
            for volume in volumes:
                if volume.named:
                    self.client.volumes.get(volume.name).remove()
                    self.client.volumes.create(volume.name, driver="local", labels=volume.labels)
        created = create_like(self.engine, container.name, image.id, recorded["Config"], recorded["HostConfig"],
                              recorded["Networks"], [v.mount() for v in volumes], container.id)
        progress(f"created {label} again from snapshot {name} ({created[:12]})")
        self._restore_volumes(image.id, created, volumes, label, progress)
        return created

    def _restore_volumes(self, image_id: str, created: str, volumes: list[Volume], label: str,
                         progress: Progress) -> None:
        if not volumes:
            return
        with self.engine.errors(label):
            mounted = mounted_volume_names(self.engine, created)
            # A container that holds the snapshot's volumes where the data came from, read but never started.
            reader = self.client.api.create_container_from_config({
                "Image": image_id, "Cmd": ["never-started"], "Labels": {FILLER_LABEL: label},
                "HostConfig": {"NetworkMode": "none", "Mounts": [
                    {"Type": "volume", "Source": v.target_name, "Target": v.destination, "ReadOnly": True,
                     "VolumeOptions": {"NoCopy": True}} for v in volumes]},
            })["Id"]
        try:
            fill_volumes(self.engine, image_id, [(v, mounted[v.destination]) for v in volumes],
                         lambda v: read_volume(self.engine, reader, v.destination, f"the snapshot's copy of {v.label}"),
                         progress, label)
        finally:
            with self.engine.errors("the container that read the snapshot's volumes"):
                self.client.api.remove_container(reader, force=True)

    # -- deleting -----------------------------------------------------------------------------

    def delete(self, container_name: str, name: str, progress: Progress) -> None:
        image = self.image(container_name, name)
        _recorded_config, volumes = _recorded(image)
        self._remove(image.id, [v.target_name for v in volumes], progress, f"{repository_of(container_name)}:{name}")

    def delete_all(self, container_name: str, progress: Progress) -> None:
        """Every snapshot of a container, once it is removed (Proxmox removes a guest's snapshots with it)."""
        for image in self.images(container_name):
            name = (image.labels or {}).get(labels.SNAPSHOT_NAME, "")
            try:
                self.delete(container_name, name, progress)
            except DriverError as exc:
                progress(f"warning: could not remove snapshot {name} of container {container_name}: {exc.message}")

    def _remove(self, image_id: str, volume_names: list[str], progress: Progress, tag: str = "") -> None:
        """An image and volumes a snapshot made. The image is untagged only while a container (the one rolled
        back to it) or a later snapshot's image is built on it; the engine frees it with the last of them."""
        with self.engine.errors("a snapshot's image"):
            if image_id:
                with suppress(docker.errors.NotFound):
                    self.client.images.remove(tag or image_id, force=True)
        for volume_name in volume_names:
            with self.engine.errors(f"volume {volume_name}"), suppress(docker.errors.NotFound):
                self.client.volumes.get(volume_name).remove(force=True)
            progress(f"removed volume {volume_name}")

    # -- cloning ------------------------------------------------------------------------------

    def clone(self, container: Container, spec: CloneSpec, progress: Progress) -> GuestInfo:
        check_guest_name(spec.name, "container")
        label = f"container {container.name}"
        if name_taken(self.engine, spec.name):
            raise GuestAlreadyExists(f"a container named '{spec.name}' already exists on this node")
        attrs = container.attrs
        binds = [m.get("Destination") for m in attrs.get("Mounts") or [] if m.get("Type") == "bind"]
        volumes = volumes_of(attrs)
        config = dict(attrs.get("Config") or {})
        # The engine adds the labels of the image to those given: a snapshot's own are blanked, not dropped.
        config_labels = {key: "" if key.startswith(SNAPSHOT_LABELS) else value
                         for key, value in (config.get("Labels") or {}).items()}
        config_labels[labels.VMID] = str(spec.vmid)
        config.update(Hostname=spec.name, Labels=config_labels)
        config.pop("MacAddress", None)
        host_config = dict(attrs.get("HostConfig") or {})
        if host_config.get("PortBindings"):
            progress("published host ports are not copied: the clone would take the same host ports")
        host_config.update(PortBindings={})
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        made: list[str] = []
        image_id = created = ""
        try:
            with self._paused(container, progress):
                with self.engine.errors(label):
                    image_id = container.commit(
                        repository=f"{CLONE_REPOSITORY}/{spec.name.lower()}", tag=str(spec.vmid), pause=False,
                        conf=dict(config, Labels=dict(_not_a_template(config_labels),
                                                      **{labels.CLONED_FROM: container.name})),
                    ).id
                progress(f"committed the file system of {label} as image {image_id[7:19]}")
                for volume in volumes:
                    if volume.named:
                        volume.name = f"{spec.name}-{volume.name}"[:255]
                        with self.engine.errors(f"volume {volume.name}"):
                            self.client.volumes.create(volume.name, driver="local", labels=volume.labels)
                        made.append(volume.name)
                created = create_like(self.engine, spec.name, image_id, config, host_config, networks,
                                      [v.mount() for v in volumes], container.id, fixed_addresses=False)
                progress(f"created container {spec.name} ({created[:12]})")
                with self.engine.errors(f"container {spec.name}"):
                    mounted = mounted_volume_names(self.engine, created)
                sources = {v.destination: v for v in volumes_of(attrs)}
                fill_volumes(self.engine, image_id, [(v, mounted[v.destination]) for v in volumes],
                             lambda v: read_volume(self.engine, container.id, v.destination,
                                                   f"{sources[v.destination].label} of {label}"),
                             progress, f"container {spec.name}")
        except BaseException:
            with self.engine.errors(f"container {spec.name}"):
                if created:
                    self.client.api.remove_container(created, v=True, force=True)
                if image_id:
                    self.client.images.remove(image_id, force=True)
                for volume_name in made:
                    self.client.volumes.get(volume_name).remove(force=True)
            raise
        if binds:
            progress(f"bind mounts are not copied (host paths): {', '.join(binds)}")
        return self.driver.get_guest(created, with_usage=False)


def _not_a_template(container_labels: dict[str, str]) -> dict[str, str]:
    """The labels for an image committed from a container: its template's name blanked (the engine keeps every
    label of the container, so it cannot be dropped), so that no lookup of the template finds this image."""
    if labels.TEMPLATE in container_labels:
        return dict(container_labels, **{labels.TEMPLATE: ""})
    return container_labels


def _volume_record(volume: Volume) -> dict:
    return {"destination": volume.destination, "name": volume.name if volume.named else "",
            "read_only": volume.read_only, "labels": volume.labels, "data": volume.target_name}


def _recorded(image: Image) -> tuple[dict, list[Volume]]:
    """What the snapshot's labels recorded: the container's configuration, and its volumes (``target_name``: the
    volume holding the data of each)."""
    image_labels = image.labels or {}
    try:
        recorded = json.loads(image_labels[labels.SNAPSHOT_CONFIG])
        records = json.loads(image_labels.get(labels.SNAPSHOT_VOLUMES) or "[]")
    except (KeyError, ValueError) as exc:
        raise SnapshotUnsupported(f"image {image.id[7:19]} is not a snapshot the panel can roll back to") from exc
    volumes = [Volume(r["name"], r["destination"], bool(r["name"]), bool(r["read_only"]), dict(r["labels"] or {}),
                      target_name=r["data"]) for r in records]
    return recorded, volumes


def _info(image: Image) -> SnapshotInfo:
    image_labels = image.labels or {}
    created = image_labels.get(labels.SNAPSHOT_TIME, "0")
    return SnapshotInfo(name=image_labels.get(labels.SNAPSHOT_NAME, ""),
                        created=int(created) if created.isdigit() else 0,
                        description=image_labels.get(labels.SNAPSHOT_DESCRIPTION, ""))
