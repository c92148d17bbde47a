"""The rules of a container's own settings as a user types them in the create wizard: command, environment,
published ports, volumes and restart policy. Each parser reads one field's text into the driver's values
(drivers.types.ContainerOptions) or raises InvalidRequest naming what is wrong; nothing reaches the engine as
text to be interpreted (the command is a list of arguments, never a shell line; volumes are named volumes,
never host paths).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex
from dataclasses import asdict

from drivers.types import ContainerOptions, PortMapping, VolumeMount
from panel.errors import InvalidRequest

RESTART_POLICIES = {"no": "Never", "on-failure": "On failure", "always": "Always",
                    "unless-stopped": "Unless stopped"}
MAX_LINES = 64  # environment variables, ports or volumes: more than a wizard's user types
MAX_TEXT = 4096  # characters of one field
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
# Docker's volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (at least two characters).
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,127}\Z")
PORT = re.compile(r"(?:(?P<address>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>[0-9]{1,5}):(?P<container>[0-9]{1,5})"
                  r"(?:/(?P<protocol>tcp|udp))?\Z")


def _bounded(text: str, what: str) -> str:
    if "\x00" in text:
        raise InvalidRequest(f"the {what} must come without NUL characters")
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"at most {MAX_TEXT} characters of {what}, not {len(text)}")
    return text


def _lines(text: str, what: str) -> list[str]:
    lines = [line.strip() for line in _bounded(text, what).splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise InvalidRequest(f"at most {MAX_LINES} {what}, not {len(lines)}")
    return lines


def parse_command(text: str) -> tuple[str, ...]:
    """Arguments split as a shell would split them (quotes kept together), run without a shell."""
    try:
        return tuple(shlex.split(_bounded(text, "command")))
    except ValueError as exc:  # an unclosed quote
        raise InvalidRequest(f"the command cannot be read: {exc}") from exc


def parse_environment(text: str) -> tuple[tuple[str, str], ...]:
    """One ``NAME=value`` per line; a name given twice is refused."""
    variables: dict[str, str] = {}
    for line in _lines(text, "environment variables"):
        name, equals, value = line.partition("=")
        if not equals or not ENV_NAME.match(name):
            raise InvalidRequest(f"'{line[:40]}' is not NAME=value (a name of letters, digits and '_', "
                                 "not starting with a digit)")
        if name in variables:
            raise InvalidRequest(f"{name} is given twice")
        variables[name] = value
    return tuple(variables.items())


def parse_ports(text: str) -> tuple[PortMapping, ...]:
    """One ``[address:]host:container[/tcp|udp]`` per line, ports 1 to 65535, each host port used once."""
    ports: list[PortMapping] = []
    for line in _lines(text, "ports"):
        match = PORT.match(line)
        if not match:
            raise InvalidRequest(f"'{line[:40]}' is not [address:]host-port:container-port[/tcp|udp]")
        host, container = int(match["host"]), int(match["container"])
        for port in (host, container):
            if not 1 <= port <= 65535:
                raise InvalidRequest(f"port {port} is not within 1 and 65535")
        address = (match["address"] or "").strip("[]")
        if address:
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError as exc:
                raise InvalidRequest(f"'{address}' is not an IP address") from exc
        mapping = PortMapping(host, container, match["protocol"] or "tcp", address)
        if any((p.host_port, p.protocol, p.address) == (host, mapping.protocol, address) for p in ports):
            raise InvalidRequest(f"host port {host}/{mapping.protocol} is published twice")
        ports.append(mapping)
    return tuple(ports)


def parse_volumes(text: str) -> tuple[VolumeMount, ...]:
    """One ``volume-name:/path/in/container[:ro]`` per line: a named volume, made with the container (the driver
    refuses a name already on the engine); host paths are refused, as they would hand the container the node's
    files."""
    volumes: list[VolumeMount] = []
    for line in _lines(text, "volumes"):
        parts = line.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise InvalidRequest(f"'{line[:40]}' is not volume-name:/path[:ro]")
        name, path, read_only = parts[0], parts[1], parts[2:] == ["ro"]
        if name.startswith(("/", ".", "~")):
            raise InvalidRequest(f"'{name[:40]}': only named volumes, never a path of the node")
        if not VOLUME_NAME.match(name):
            raise InvalidRequest(f"'{name[:40]}' is not a volume name (letters, digits, '_', '.', '-'; at least "
                                 "two characters, starting with a letter or digit)")
        if not path.startswith("/") or posixpath.normpath(path) != path or path == "/" or len(path) > 1024:
            raise InvalidRequest(f"'{path[:40]}' is not an absolute path in the container (no '..', not '/')")
        if any(v.path == path for v in volumes):
            raise InvalidRequest(f"{path} is mounted twice")
        volumes.append(VolumeMount(name, path, read_only))
    return tuple(volumes)


def parse_restart(text: str) -> str:
    """Docker's restart policy (none given: "no", the engine's default)."""
    text = text or "no"
    if text not in RESTART_POLICIES:
        raise InvalidRequest(f"a restart policy is one of {', '.join(RESTART_POLICIES)}, not '{text[:20]}'")
    return text


def as_params(options: ContainerOptions) -> dict:
    """The options as a task's JSON parameters."""
    return asdict(options)


def from_params(params: dict | None) -> ContainerOptions:
    """The options back from a task's parameters (none: the template's own)."""
    if not params:
        return ContainerOptions()
    return ContainerOptions(
        command=tuple(params.get("command") or ()),
        environment=tuple((name, value) for name, value in params.get("environment") or ()),
        ports=tuple(PortMapping(**port) for port in params.get("ports") or ()),
        volumes=tuple(VolumeMount(**volume) for volume in params.get("volumes") or ()),
        restart=params.get("restart") or "no",
    )
