from __future__ import annotations

from django import forms
from django.conf import settings

from access.models import Pool
from drivers.limits import MAX_DISK_GIB, MAX_MEMORY_MIB, MAX_VCPUS, VM_NETWORKS
from drivers.types import ContainerOptions
from nodes.models import Node
from nodes.validators import validate_guest_name
from panel.errors import InvalidRequest
from tasks.choices import MAX_TIMEOUT

from .choices import VMID_MAX, VMID_MIN, GuestKind
from .config import iso_problem, memory_problem, name_problem, vcpus_problem
from .container_options import (
    RESTART_POLICIES,
    parse_command,
    parse_environment,
    parse_ports,
    parse_restart,
    parse_volumes,
)
from .models import Guest, GuestTemplate

CONTAINER_FIELDS = {"command": parse_command, "environment": parse_environment, "ports": parse_ports,
                    "volumes": parse_volumes, "restart": parse_restart}
MAX_STARTUP_ORDER = 999_999  # within the column, and more groups than any cluster has
DEFAULT_MEMORY_MIB = {GuestKind.VM: 256, GuestKind.CT: 128}


class GuestCreateForm(forms.Form):
    """Create a VM or a container from one of a node's templates."""

    node = forms.ModelChoiceField(queryset=Node.objects.all(), to_field_name="name")
    template = forms.CharField(max_length=128, required=False)
    iso = forms.CharField(label="ISO image", max_length=256, required=False,
                          help_text="Or boot from an ISO image of the node's storage, onto an empty disk.")
    # No max_length: a browser cuts a longer name silently at the input's maxlength; the rule refuses it instead.
    name = forms.CharField(validators=[validate_guest_name], help_text="At most 63 characters.")
    vmid = forms.IntegerField(
        label="VMID", required=False, min_value=VMID_MIN, max_value=VMID_MAX,
        help_text="Leave empty for the next free id.",
    )
    vcpus = forms.IntegerField(label="vCPUs", min_value=1, max_value=MAX_VCPUS, initial=1)
    memory_mib = forms.IntegerField(label="Memory (MiB)", min_value=4, max_value=MAX_MEMORY_MIB)
    disk_gib = forms.IntegerField(label="Disk (GiB)", min_value=1, max_value=MAX_DISK_GIB, initial=2)
    onboot = forms.BooleanField(label="Start at boot", required=False)
    startup_order = forms.IntegerField(label="Startup order", required=False, min_value=0,
                                       max_value=MAX_STARTUP_ORDER)
    start = forms.BooleanField(label="Start after created", required=False)
    network = forms.ChoiceField(label="Network", choices=list(VM_NETWORKS.items()), required=False, initial="",
                                help_text="The node's network is its bridge, or NAT when it has none.")
    # A container's own settings (guests/container_options.py reads each one).
    command = forms.CharField(required=False, help_text="Run instead of the template's command, e.g. "
                              "sleep 3600 (split as a shell would, run without one).")
    environment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="One NAME=value per line.")
    ports = forms.CharField(label="Published ports", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            help_text="One [address:]host-port:container-port[/udp] per line, "
                                      "e.g. 127.0.0.1:8080:80.")
    volumes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text="One volume-name:/path/in/container[:ro] per line: new volumes of "
                                        "the container's own, removed with it.")
    restart = forms.ChoiceField(label="Restart policy", choices=list(RESTART_POLICIES.items()), initial="no",
                                required=False,
                                help_text="What the engine does when the container's process ends.")

    def __init__(self, *args: object, kind: str, nodes, pools: list | None = None, pool_required: bool = False,
                 **kwargs: object) -> None:
        """``nodes``: those the user may put guests on; no other node is offered, named or described."""
        super().__init__(*args, **kwargs)
        self.kind = GuestKind(kind)
        self.fields["node"].queryset = nodes
        if pools:  # the pools the user may allocate in (VM.Allocate on /pool/<name>)
            self.fields["pool"] = forms.ModelChoiceField(
                queryset=Pool.objects.filter(pk__in=[p.pk for p in pools]), to_field_name="name",
                required=pool_required, help_text="The guest is created in this pool, within its quota.")
            if len(pools) == 1 and pool_required:
                self.fields["pool"].initial = pools[0].name
        self.fields["memory_mib"].initial = DEFAULT_MEMORY_MIB[self.kind]
        if self.kind is GuestKind.CT:
            del self.fields["disk_gib"]  # a container's root file system lives on the engine's storage
            del self.fields["network"]  # a container is on its engine's network
        else:
            for name in CONTAINER_FIELDS:
                del self.fields[name]
        templates = GuestTemplate.objects.filter(kind=self.kind, node__in=nodes).order_by("name")
        names = sorted({t.name for t in templates})
        isos = sorted({e.name for node in nodes for e in node.iso_images()}) if self.kind is GuestKind.VM else []
        if isos:
            self.fields["iso"].widget = forms.Select(choices=[("", "none: from the template"),
                                                             *((n, n) for n in isos)])
            names.insert(0, "")  # an ISO's VM has no template
        else:  # a container has no ISO; a VM has one only when the node holds some
            del self.fields["iso"]
        self.fields["template"].widget = forms.Select(
            choices=[(n, n or "none: from the ISO image") for n in names])
        if len([n for n in names if n]) == 1:
            self.fields["template"].initial = next(n for n in names if n)
        # Preselect the node this panel runs on, or the only one there is.
        node_names = list(self.fields["node"].queryset.values_list("name", flat=True))
        if settings.PANEL_NODE_NAME in node_names:
            self.fields["node"].initial = settings.PANEL_NODE_NAME
        elif len(node_names) == 1:
            self.fields["node"].initial = node_names[0]

    def clean(self) -> dict:
        data = super().clean()
        if self.kind is GuestKind.CT:
            data["container"] = self._container_options(data)
        node: Node | None = data.get("node")
        if node is None:
            return data
        template_name, iso = data.get("template"), data.get("iso")
        template = GuestTemplate.objects.filter(node=node, kind=self.kind, name=template_name).first()
        if template_name and template is None:
            self.add_error("template", f"template '{template_name}' does not exist on node {node.name}")
        if iso and template_name:
            self.add_error("iso", "a VM boots either a template or an ISO image, not both")
        elif iso and (problem := iso_problem(node, iso)):
            self.add_error("iso", problem)
        elif not iso and not template_name and "template" not in self.errors:
            self.add_error("template", "choose a template" + (" or an ISO image" if "iso" in self.fields else ""))
        # The rules every creation and change of a guest follows (guests/config.py).
        memory = data.get("memory_mib")
        problem = memory is not None and memory_problem(node, self.kind, template.name if template else "", memory)
        if problem:
            self.add_error("memory_mib", problem)
        vcpus = data.get("vcpus")
        if vcpus is not None and (problem := vcpus_problem(node, vcpus)):
            self.add_error("vcpus", problem)
        name = data.get("name")
        if name and (problem := name_problem(node, self.kind, name)):
            self.add_error("name", problem)
        vmid = data.get("vmid")
        if vmid and Guest.objects.filter(vmid=vmid).exists():
            self.add_error("vmid", f"VMID {vmid} is already in use")
        return data

    def _container_options(self, data: dict) -> ContainerOptions:
        """The container's own settings, each field's problem named on that field."""
        values = {}
        for name, parse in CONTAINER_FIELDS.items():
            if name not in data:  # already refused by its field
                continue
            try:
                values[name] = parse(data[name])
            except InvalidRequest as exc:
                self.add_error(name, exc.message)
        return ContainerOptions(**values)


class MigrateForm(forms.Form):
    """Move a guest (or every guest of a node) to another node."""

    target = forms.ModelChoiceField(label="Target node", queryset=Node.objects.none(), to_field_name="name",
                                    empty_label=None)
    online = forms.BooleanField(label="Online (live migration)", required=False)
    timeout = forms.IntegerField(
        label="Shutdown timeout (s)", required=False, min_value=0, max_value=MAX_TIMEOUT,
        help_text="How long a running guest may take to shut down before it is stopped (offline migration).")

    def __init__(self, *args: object, source: Node, nodes, **kwargs: object) -> None:
        """``nodes``: those the user may put guests on."""
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = nodes.exclude(pk=source.pk).order_by("name")
