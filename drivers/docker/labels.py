"""Labels the panel puts on what it creates in Docker (reserved ``panel.*`` namespace)."""

VMID = "panel.vmid"
TEMPLATE = "panel.template"  # on an image: marks it as a template; on a container: its origin
TEMPLATE_DESCRIPTION = "panel.template.description"
TEMPLATE_MIN_MEMORY = "panel.template.min-memory-mib"
MIGRATED_FROM = "panel.migrated-from"  # on an image a migration made: the engine it came from
