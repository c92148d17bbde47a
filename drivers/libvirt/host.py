"""The libvirt connection of one node, and the one place where libvirt errors become ours.

A ``Host`` opens its connection on first use, shares it between threads (libvirt
connections are thread-safe) and replaces it when it broke: libvirtd restarted,
the socket closed, or the process forked. Domain events are delivered by libvirt's
default event loop, run on one daemon thread that only sets flags.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import libvirt

from ..errors import (
    DriverError,
    EngineUnavailable,
    GuestAlreadyExists,
    GuestNotFound,
    InvalidGuestState,
    InvalidSpec,
    OperationTimeout,
    SnapshotNotFound,
)
from .config import parse_xml
from .guest import Guest

log = logging.getLogger(__name__)


def _ignore_libvirt_error(_ctx: object, _error: object) -> None:
    """libvirt prints every error to stderr unless a handler is set; we raise them instead."""


libvirt.registerErrorHandler(_ignore_libvirt_error, None)

# Failures of the link to the daemon rather than of the request: the connection is
# dropped and the next call opens a new one.
_CONNECTION_CODES = {
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_CANCELLED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
}
_TRANSPORT_DOMAINS = {libvirt.VIR_FROM_REMOTE, libvirt.VIR_FROM_RPC}
_TRANSPORT_CODES = {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR}
_SPEC_CODES = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_XML_INVALID_SCHEMA,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
}


def is_connection_error(exc: libvirt.libvirtError) -> bool:
    code, domain = exc.get_error_code(), exc.get_error_domain()
    return code in _CONNECTION_CODES or (code in _TRANSPORT_CODES and domain in _TRANSPORT_DOMAINS)


def _message(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


# -- event loop ----------------------------------------------------------------------------

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            log.exception("libvirt event loop failed")
            time.sleep(1)


def _ensure_event_loop() -> None:
    """Start the event loop thread. It must be registered before a connection opens to get its events.

    After a fork the thread is gone in the child (``is_alive()`` is false), so the child starts its own.
    """
    global _loop_thread
    with _loop_lock:
        if _loop_thread is not None and _loop_thread.is_alive():
            return
        libvirt.virEventRegisterDefaultImpl()
        _loop_thread = threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True)
        _loop_thread.start()


# Connections inherited through fork: closing one would close the parent's session on the
# daemon, so they are kept referenced (a virConnect closes itself when collected).
_inherited: list[libvirt.virConnect] = []


class Host:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._pid = 0
        self._lock = threading.Lock()

    # -- connection ------------------------------------------------------------------------

    def get_connection(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None and not self._usable(self._conn):
                self._conn = None
            if self._conn is None:
                _ensure_event_loop()
                try:
                    self._conn = libvirt.open(self.uri)
                except libvirt.libvirtError as exc:
                    raise EngineUnavailable(f"libvirt at {self.uri} is not reachable: {_message(exc)}") from exc
                self._pid = os.getpid()
            return self._conn

    def _usable(self, conn: libvirt.virConnect) -> bool:
        if self._pid != os.getpid():
            _inherited.append(conn)
            return False
        # No round trip (every call of every thread passes here, under the lock): the client library knows
        # whether the socket closed, since the event loop thread watches it; a call that finds the link broken
        # otherwise drops the connection (``translate``) and the next one opens a new one.
        try:
            alive = conn.isAlive() == 1
        except libvirt.libvirtError as exc:
            alive = False
            log.info("libvirt connection to %s is broken (%s): reconnecting", self.uri, _message(exc))
        if not alive:
            log.info("libvirt connection to %s closed: reconnecting", self.uri)
            _close_quietly(conn)
        return alive

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            _close_quietly(conn)

    def close(self) -> None:
        self._drop()

    # -- errors ----------------------------------------------------------------------------

    def translate(self, exc: libvirt.libvirtError, what: str = "") -> DriverError:
        """The typed error for a libvirt error; ``what`` names the object, e.g. ``VM web1``."""
        code, message = exc.get_error_code(), _message(exc)
        prefix = f"{what}: " if what else ""
        if is_connection_error(exc):
            self._drop()
            return EngineUnavailable(f"libvirt at {self.uri} is not reachable: {message}")
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            return GuestNotFound(f"{what or 'VM'} does not exist on {self.uri}")
        if code == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return SnapshotNotFound(prefix + message)
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            return InvalidGuestState(prefix + message)
        if code == libvirt.VIR_ERR_DOM_EXIST:
            return GuestAlreadyExists(prefix + message)
        if code in (libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_AGENT_UNRESPONSIVE):
            return OperationTimeout(prefix + message)
        if code in _SPEC_CODES:
            return InvalidSpec(prefix + message)
        return DriverError(f"libvirt error: {prefix}{message}")

    @contextmanager
    def errors(self, what: str = "") -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as exc:
            raise self.translate(exc, what) from exc

    # -- domains ---------------------------------------------------------------------------

    def version(self) -> str:
        with self.errors():
            number = self.get_connection().getLibVersion()
        return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"

    def hostname(self) -> str:
        with self.errors():
            return self.get_connection().getHostname()

    def host_uuid(self) -> str:
        """The host's UUID as this daemon reports it: what libvirt compares to refuse a migration to the same host
        (a session daemon that cannot read the machine's UUID makes up its own)."""
        with self.errors():
            capabilities = self.get_connection().getCapabilities()
        return parse_xml(capabilities).findtext("host/uuid") or ""

    def get_guest(self, domain_uuid: str) -> Guest:
        try:
            uuid.UUID(domain_uuid)
        except ValueError:
            raise GuestNotFound(f"VM {domain_uuid!r} does not exist: VM ids are UUIDs") from None
        with self.errors(f"VM {domain_uuid}"):
            return Guest(self.get_connection().lookupByUUIDString(domain_uuid), self)

    def find_guest(self, name: str) -> Guest | None:
        try:
            return Guest(self.get_connection().lookupByName(name), self)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise self.translate(exc, f"VM {name}") from exc

    def list_guests(self) -> list[Guest]:
        with self.errors():
            return [Guest(domain, self) for domain in self.get_connection().listAllDomains(0)]

    def define(self, xml: str) -> Guest:
        """Make a persistent domain from XML (it stays shut off)."""
        with self.errors():
            return Guest(self.get_connection().defineXML(xml), self)

    def domain_stats(self, stats: int, guests: list[Guest] | None = None) -> list[tuple[Guest, dict]]:
        """Bulk statistics in one call: of every domain (defined and running), or of ``guests``."""
        with self.errors():
            conn = self.get_connection()
            if guests is None:
                records = conn.getAllDomainStats(stats, 0)
            else:
                records = conn.domainListGetStats([g.domain for g in guests], stats, 0)
        return [(Guest(domain, self), values) for domain, values in records]

    @contextmanager
    def reboot_events(self, guest: Guest) -> Iterator[threading.Event]:
        """An Event set when ``guest`` resets (libvirt's REBOOT event, sent on every guest reset)."""
        rebooted = threading.Event()
        conn = self.get_connection()
        with self.errors(guest.label):
            callback_id = conn.domainEventRegisterAny(
                guest.domain, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, lambda *_: rebooted.set(), None
            )
        try:
            yield rebooted
        finally:
            with suppress(libvirt.libvirtError):  # a broken connection took the callback with it
                conn.domainEventDeregisterAny(callback_id)

    @contextmanager
    def lifecycle_events(self, guest: Guest) -> Iterator[threading.Event]:
        """An Event set at each lifecycle change of ``guest`` (started, stopped, paused...): a wait for a state
        wakes the moment it may have come instead of looking every so often."""
        changed = threading.Event()
        conn = self.get_connection()
        with self.errors(guest.label):
            callback_id = conn.domainEventRegisterAny(
                guest.domain, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda *_: changed.set(), None
            )
        try:
            yield changed
        finally:
            with suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(callback_id)


def _close_quietly(conn: libvirt.virConnect) -> None:
    with suppress(libvirt.libvirtError):
        conn.close()
