from contextlib import nullcontext

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, ListView

from access import permissions
from access.audit import denials
from access.models import Pool
from nodes.models import Node
from panel.errors import Forbidden, InvalidRequest, Refused
from panel.parsing import decimal_or_none
from panel.tabs import Tab, TabbedPageView
from panel.views import SAFE_METHODS, PanelPageMixin, queue_task

from .bulk import SELECTION_ACTIONS, request_selection, selected_guests, selection_actions
from .choices import ALLOWED_STATES, DESTRUCTIVE_ACTIONS, VM_ONLY_ACTIONS, VMID_MAX, VMID_MIN, GuestAction, GuestKind
from .forms import GuestCreateForm
from .models import Guest
from .services import (
    CreateRequest,
    check_may_act,
    check_may_create,
    move_to_pool,
    placeable_nodes,
    request_action,
    request_create,
    request_migrate,
)
from .tabs import GUEST_TABS


def visible_guest_or_404(request: HttpRequest, vmid: int) -> Guest:
    queryset = Guest.objects.select_related("node").visible_to(request.user)
    return get_object_or_404(queryset, vmid=vmid)


class GuestListView(PanelPageMixin, ListView):
    """Every guest the user may see, a page at a time, filtered by ?q= (name or VMID), kind, state, node."""

    template_name = "guests/guest_list.html"
    context_object_name = "guests"
    paginate_by = 100

    def get_queryset(self) -> QuerySet[Guest]:
        guests = Guest.objects.select_related("node", "pool").visible_to(self.request.user)
        params = self.request.GET
        if query := params.get("q", "").strip():
            match = Q(name__icontains=query)
            vmid = decimal_or_none(query)
            if vmid is not None and vmid <= VMID_MAX:  # a larger number is no VMID (and overflows SQL)
                match |= Q(vmid=vmid)
            guests = guests.filter(match)
        if params.get("kind") in GuestKind.values:
            guests = guests.filter(kind=params["kind"])
        if state := params.get("state"):
            guests = guests.filter(state=state)
        if node := params.get("node"):
            guests = guests.filter(node__name=node)
        return guests.order_by("vmid")

    def get_context_data(self, **kwargs: object) -> dict:
        params = self.request.GET.copy()
        params.pop("page", None)
        return super().get_context_data(
            filters=params.urlencode(), kinds=GuestKind.choices,
            selection_actions=selection_actions(self.request.user, Node.objects.only("name")),
            can_create=permissions.can_create_guests(self.request.user), **kwargs)


class GuestDetailView(TabbedPageView):
    """A guest's panel: its header with the actions the user may take, and its tabs (guests/tabs.py)."""

    template_name = "guests/guest_detail.html"
    tabs = GUEST_TABS

    def get_object(self) -> Guest:
        return visible_guest_or_404(self.request, self.kwargs["vmid"])

    def tab_url(self, guest: Guest, tab: Tab, first: bool) -> str:
        return guest.get_absolute_url() if first else reverse("guest_tab", args=[guest.vmid, tab.name])

    def page_context(self, guest: Guest) -> dict:
        # Every action the user may take, each shown only in the states that allow it: the page follows
        # the guest's state live (static/panel/resources.js) without asking the server again.
        actions = [
            (action, " ".join(sorted(ALLOWED_STATES[action])), guest.shown_state in ALLOWED_STATES[action])
            for action in GuestAction
            if permissions.can_act_on_guest(self.request.user, guest, action)
            and (action not in VM_ONLY_ACTIONS or guest.kind == GuestKind.VM)
            and not (action is GuestAction.START and guest.is_template)  # a template is cloned, never started
        ]
        return {"guest": guest, "actions": actions, "destructive": DESTRUCTIVE_ACTIONS,
                "current_resource": guest.resource_id}


class GuestActionView(PanelPageMixin, View):
    """POST runs an action; destructive ones show a confirmation page on GET first."""

    def get(self, request: HttpRequest, vmid: int, action: str) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        action = self._action(action)
        check_may_act(request.user, guest, action)
        return render(request, "guests/guest_confirm.html", {"guest": guest, "action": action})

    def post(self, request: HttpRequest, vmid: int, action: str) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        action = self._action(action)
        if action in DESTRUCTIVE_ACTIONS and request.POST.get("confirm") != str(guest.vmid):
            messages.error(request, f"type the VMID {guest.vmid} to confirm: {action.label.lower()} {guest}")
            return render(request, "guests/guest_confirm.html", {"guest": guest, "action": action}, status=400)
        params = {}
        if action is GuestAction.SHUTDOWN and request.POST.get("force_stop"):
            params["force_stop"] = True
        return queue_task(request, lambda: request_action(request.user, guest, action, **params), guest,
                          lambda task: f"{action.label} of {guest} queued as task {task.upid}")

    @staticmethod
    def _action(name: str) -> GuestAction:
        try:
            return GuestAction(name)
        except ValueError:
            raise Http404(f"no action {name!r}") from None


# The create wizard's steps, as Proxmox's: the fields of GuestCreateForm on each.
WIZARD_STEPS = [
    ("General", ["node", "vmid", "name", "pool"]),
    ("Template", ["template", "iso"]),
    ("Resources", ["vcpus", "memory_mib", "disk_gib"]),
    ("Network", ["network"]),
    ("Container", ["command", "environment", "ports", "volumes", "restart"]),
    ("Start", ["onboot", "startup_order", "start"]),
]


class GuestCreateView(PanelPageMixin, FormView):
    template_name = "guests/guest_form.html"
    form_class = GuestCreateForm

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if kwargs["kind"] not in GuestKind.values:
            raise Http404("no such guest kind")
        self.kind = GuestKind(kwargs["kind"])
        if request.user.is_authenticated:  # a refused creation is audited like those the service refuses
            changing = request.method not in SAFE_METHODS
            described = f"{self.kind.upper()} ({request.POST.get('name', '')})"
            with denials(request.user, "guest.create", described) if changing else nullcontext():
                check_may_create(request.user)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        """``?validate=1&<fields>``: the form's own errors for what is typed so far, as JSON, for the wizard's
        checks as the user types (static/panel/wizard.js): the rules are the form's, never a copy in JavaScript."""
        if request.GET.get("validate"):
            form = self.get_form_class()(data=request.GET, **{k: v for k, v in self.get_form_kwargs().items()
                                                               if k not in ("data", "files", "initial", "prefix")})
            errors = {} if form.is_valid() else {
                field: [e["message"] for e in messages_] for field, messages_ in form.errors.get_json_data().items()}
            return JsonResponse({"errors": errors})
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        user = self.request.user
        return {**super().get_form_kwargs(), "kind": self.kind, "nodes": placeable_nodes(user),
                "pools": permissions.allocatable_pools(user),
                "pool_required": not permissions.has_privilege(user, "VM.Allocate", "/vms")}

    def get_context_data(self, **kwargs: object) -> dict:
        context = super().get_context_data(kind=self.kind, **kwargs)
        form = context["form"]
        steps = [(label, [form[name] for name in names if name in form.fields]) for label, names in WIZARD_STEPS]
        context["steps"] = [(label, fields) for label, fields in steps if fields]
        return context

    def form_invalid(self, form: GuestCreateForm) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def form_valid(self, form: GuestCreateForm) -> HttpResponse:
        data = form.cleaned_data
        create = CreateRequest(
            node=data["node"],
            kind=self.kind,
            name=data["name"],
            template=data["template"],
            vcpus=data["vcpus"],
            memory_mib=data["memory_mib"],
            disk_gib=data.get("disk_gib") or 0,
            vmid=data.get("vmid"),
            onboot=data["onboot"],
            startup_order=data.get("startup_order"),
            start=data["start"],
            pool=data.get("pool"),
            container=data.get("container"),
            iso=data.get("iso") or "",
            network=data.get("network") or "",
        )
        try:
            task = request_create(self.request.user, create)
        except Refused as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, f"creation of {self.kind.label.lower()} {create.name} queued")
        return redirect(task)


class GuestMigrateView(PanelPageMixin, View):
    """POST moves the guest to the chosen node; the form is on the guest page."""

    def post(self, request: HttpRequest, vmid: int) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        target, online = request.POST.get("target", ""), bool(request.POST.get("online"))
        timeout = request.POST.get("timeout", "").strip()
        if timeout and not timeout.isdigit():
            messages.error(request, f"the shutdown timeout is a number of seconds, not '{timeout}'")
            return redirect(guest)
        timeout = int(timeout) if timeout else None
        return queue_task(request, lambda: request_migrate(request.user, guest, target, online, timeout), guest,
                          lambda task: f"migration of {guest} to {target} queued as task {task.upid}")


class GuestPoolView(PanelPageMixin, View):
    """POST puts the guest in another pool (or none): VM.Allocate on the guest and the pool, within quota."""

    def post(self, request: HttpRequest, vmid: int) -> HttpResponse:
        guest = visible_guest_or_404(request, vmid)
        name = request.POST.get("pool", "")
        pool = get_object_or_404(Pool, name=name) if name else None
        try:
            move_to_pool(request.user, guest, pool)
        except Refused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{guest} is now in pool {pool.name if pool else '(none)'}")
        return redirect(guest)


class GuestSelectionView(PanelPageMixin, View):
    """Guests chosen in a grid, acted on together: GET lists them to confirm, POST queues one bulk task per node
    (guests/bulk.py) and shows its progress (the task's page, or the datacenter's tasks for several nodes)."""

    template_name = "guests/selection_confirm.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        action, vmids = self._chosen(request.GET)
        guests = selected_guests(request.user, vmids) if vmids else []
        nodes = {g.node_id: g.node for g in guests}.values()
        if action not in dict(selection_actions(request.user, nodes)):
            raise Forbidden(f"you may not {SELECTION_ACTIONS[action].lower()} these guests together")
        targets = placeable_nodes(request.user).order_by("name") if action == "migrate" else None
        return render(request, self.template_name, {
            "action": action, "label": SELECTION_ACTIONS[action], "guests": guests, "targets": targets,
            "back": self._back(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        action, vmids = self._chosen(request.POST)
        try:
            tasks = request_selection(request.user, action, vmids, request.POST.get("target", ""))
        except Refused as exc:
            messages.error(request, exc.message)
            return redirect(self._back(request))
        label = SELECTION_ACTIONS[action]
        messages.success(request, f"{label} of {len(vmids)} guests queued on {', '.join(t.node.name for t in tasks)}")
        return redirect(tasks[0] if len(tasks) == 1 else reverse("datacenter_tab", args=["tasks"]))

    @staticmethod
    def _chosen(data) -> tuple[str, list[int]]:
        action = data.get("action", "")
        if action not in SELECTION_ACTIONS:
            raise Http404(f"no action {action!r} for a selection of guests")
        vmids = []
        for value in data.getlist("vms"):
            vmid = decimal_or_none(value)
            if vmid is None or not VMID_MIN <= vmid <= VMID_MAX:
                raise InvalidRequest(f"'{value}' is not a VMID")
            vmids.append(int(vmid))
        return action, sorted(set(vmids))

    @staticmethod
    def _back(request: HttpRequest) -> str:
        back = request.GET.get("back") or request.POST.get("back") or ""
        safe = url_has_allowed_host_and_scheme(back, allowed_hosts=None) and back.startswith("/")
        return back if safe else reverse("guest_list")
