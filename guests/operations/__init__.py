"""The guest task types a node's worker runs (registered in tasks.registry when the app is ready)."""

from . import bulk, clone, config, lifecycle, migration, power, snapshots, uploads  # noqa: F401
