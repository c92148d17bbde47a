"""Labels the panel puts on what it creates in Docker (reserved ``panel.*`` namespace)."""

VMID = "panel.vmid"
TEMPLATE = "panel.template"  # on an image: marks it as a template; on a container: its origin
TEMPLATE_DESCRIPTION = "panel.template.description"
TEMPLATE_MIN_MEMORY = "panel.template.min-memory-mib"
MIGRATED_FROM = "panel.migrated-from"  # on an image a migration made: the engine it came from
# On a snapshot's image (panel-snapshot/<container name>:<snapshot name>): whose it is and what it holds.
SNAPSHOT_OF = "panel.snapshot.of"  # the container's name
SNAPSHOT_NAME = "panel.snapshot.name"
SNAPSHOT_TIME = "panel.snapshot.time"  # Unix time
SNAPSHOT_DESCRIPTION = "panel.snapshot.description"
SNAPSHOT_CONFIG = "panel.snapshot.config"  # JSON: the container's Config, HostConfig and networks when taken
SNAPSHOT_VOLUMES = "panel.snapshot.volumes"  # JSON: its volumes, and the volume holding each one's data
CLONED_FROM = "panel.cloned-from"  # on the image a clone made: the container it copies
