"""Hypervisor drivers: one interface (base.GuestDriver), one implementation per engine.

- ``base.py``: the interface, with the power-off sequence and the wait for a state that both engines share;
- ``migration.py``: the offline migration sequence; each engine gives its steps (``<engine>/migration.py``);
- ``limits.py``: the engines' limits and naming rules, which the panel's forms import;
- ``errors.py``, ``types.py``: what crosses the interface; ``registry.py``: the driver of a node and a kind;
- ``docker/``: ``client.py`` (connection, error translation), ``driver.py`` (inventory, lifecycle),
  ``migration.py``, ``archive.py`` (what a tar stream holds, to check copies);
- ``libvirt/``: ``host.py`` (connection, errors), ``guest.py`` (domain verbs), ``config.py`` (domain XML),
  ``driver.py`` (policy), ``migration.py``, ``vm_files.py`` (the panel's files in a storage directory),
  ``storage_pools.py`` (libvirt pools and volumes: copies between nodes), ``templates.py``.

Nothing in this package imports Django: views and tasks reach an engine only
through ``drivers.registry.driver_for``, and engines know nothing of the panel's models.
"""
