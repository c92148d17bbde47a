"""Hypervisor drivers: one interface (base.GuestDriver), one implementation per engine.

Nothing in this package imports Django: views and tasks reach an engine only
through ``drivers.registry.driver_for``, and engines know nothing of the panel's models.
"""
