"""The forms of a guest's Hardware and Options tabs and of its notes: each field is a Proxmox setting, and what is
changed goes to guests.config.request_config as the API's changes go, under the same rules."""

from __future__ import annotations

from django import forms

from drivers.limits import MAX_DISK_GIB, MAX_MEMORY_MIB, MAX_VCPUS

from .choices import GuestKind
from .config import (
    MAX_DESCRIPTION,
    MAX_STARTUP_NUMBER,
    MIN_MEMORY_MIB,
    NAME_KEY,
    guest_config,
    may_change,
    may_resize,
)
from .models import Guest


class ConfigForm(forms.Form):
    """A form over some of a guest's settings (``KEYS``: field name -> Proxmox key), shown with the pending
    changes applied; fields the user may not change are disabled. ``changes()`` gives what differs, as text."""

    KEYS: dict[str, str] = {}
    digest = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: object, guest: Guest, user, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.guest = guest
        self.config = guest_config(guest)
        self.fields["digest"].initial = self.config["digest"]
        for field, key in self.keys().items():
            self.fields[field].initial = self.initial_value(field, key)
            if not may_change(user, guest, key):
                self.fields[field].disabled = True
        self.pending = {field: guest.pending[key] for field, key in self.keys().items() if key in guest.pending}

    def keys(self) -> dict[str, str]:
        return dict(self.KEYS)

    def initial_value(self, field: str, key: str) -> object:
        return self.config.get(key, "")

    def changes(self) -> tuple[dict[str, str], list[str]]:
        """(values, deletions) in Proxmox's terms, of what the user changed."""
        values: dict[str, str] = {}
        deletions: list[str] = []
        for field, key in self.keys().items():
            if self.fields[field].disabled or field not in self.changed_data:
                continue
            value = self.cleaned_data[field]
            if value in (None, ""):
                deletions.append(key)
            else:
                values[key] = str(int(value) if isinstance(value, bool) else value)
        return values, deletions

    def field_of(self, key: str) -> str:
        """The field of a Proxmox key, for a refusal that names it."""
        return next((f for f, k in self.keys().items() if k == key), "__all__")


class HardwareForm(ConfigForm):
    """CT: memory and CPU limits; VM: memory, vCPUs and the size of its disk."""

    memory = forms.IntegerField(label="Memory (MiB)", min_value=MIN_MEMORY_MIB, max_value=MAX_MEMORY_MIB)
    cores = forms.IntegerField(label="Cores", min_value=1, max_value=MAX_VCPUS, required=False,
                               help_text="Empty: every CPU of the node (containers).")
    disk_gib = forms.IntegerField(label="Disk size (GiB)", min_value=1, max_value=MAX_DISK_GIB, required=False,
                                  help_text="Disks only grow.")
    KEYS = {"memory": "memory", "cores": "cores"}

    def __init__(self, *args: object, guest: Guest, user, **kwargs: object) -> None:
        super().__init__(*args, guest=guest, user=user, **kwargs)
        if guest.kind == GuestKind.VM:
            self.fields["cores"].required = True
            self.fields["cores"].help_text = ""
            self.fields["disk_gib"].initial = guest.disk_bytes // 1024**3
            self.fields["disk_gib"].disabled = not may_resize(user, guest)
        else:
            del self.fields["disk_gib"]  # a container's root file system has no size to grow

    def clean(self) -> dict:
        data = super().clean()
        if "disk_gib" in self.changed_data and any(f in self.changed_data for f in self.KEYS):
            # Each is a task of its own, and a guest runs one task at a time.
            raise forms.ValidationError("grow the disk on its own: apply the other changes first")
        return data

    def clean_cores(self) -> int | None:
        cores = self.cleaned_data.get("cores")
        if cores is None and "cores" in self.changed_data:
            raise forms.ValidationError("give a number of cores: the engine keeps no way back to no limit")
        return cores

    def initial_value(self, field: str, key: str) -> object:
        value = self.config.get(key, "")
        return int(value) if str(value).isdigit() else value


class OptionsForm(ConfigForm):
    """Name, start at boot, startup order and delays, tags and notes."""

    name = forms.CharField(help_text="A host name, at most 63 characters.")
    onboot = forms.BooleanField(label="Start at boot", required=False)
    startup_order = forms.IntegerField(label="Startup order", min_value=0, max_value=MAX_STARTUP_NUMBER,
                                       required=False)
    startup_up = forms.IntegerField(label="Startup delay (s)", min_value=0, max_value=MAX_STARTUP_NUMBER,
                                    required=False, help_text="Wait this long after starting it.")
    startup_down = forms.IntegerField(label="Shutdown timeout (s)", min_value=0, max_value=MAX_STARTUP_NUMBER,
                                      required=False)
    tags = forms.CharField(required=False, help_text="Separated by ';', ',' or spaces.")
    description = forms.CharField(label="Notes", required=False, max_length=MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    KEYS = {"onboot": "onboot", "tags": "tags", "description": "description"}
    STARTUP = ("startup_order", "startup_up", "startup_down")

    def keys(self) -> dict[str, str]:
        return {"name": NAME_KEY[GuestKind(self.guest.kind)], **self.KEYS}

    def __init__(self, *args: object, guest: Guest, user, **kwargs: object) -> None:
        super().__init__(*args, guest=guest, user=user, **kwargs)
        startup = dict(part.split("=", 1) for part in str(self.config.get("startup", "")).split(",") if "=" in part)
        for field, part in zip(self.STARTUP, ("order", "up", "down"), strict=True):
            self.fields[field].initial = int(startup[part]) if part in startup else None
            self.fields[field].disabled = not may_change(user, guest, "startup")
        if "startup" in guest.pending:
            self.pending["startup_order"] = guest.pending["startup"]

    def initial_value(self, field: str, key: str) -> object:
        value = self.config.get(key, "")
        return bool(value) if field == "onboot" else value

    def changes(self) -> tuple[dict[str, str], list[str]]:
        values, deletions = super().changes()
        if not self.fields["startup_order"].disabled and any(f in self.changed_data for f in self.STARTUP):
            parts = [f"{part}={self.cleaned_data[field]}" for field, part in
                     zip(self.STARTUP, ("order", "up", "down"), strict=True) if self.cleaned_data[field] is not None]
            if parts:
                values["startup"] = ",".join(parts)
            else:
                deletions.append("startup")
        return values, deletions

    def field_of(self, key: str) -> str:
        return "startup_order" if key == "startup" else super().field_of(key)


class NotesForm(ConfigForm):
    description = forms.CharField(label="Notes", required=False, max_length=MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 6}))
    KEYS = {"description": "description"}
