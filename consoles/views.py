"""The console pages: a terminal (xterm.js, static/panel/console.js) on the console socket of a guest or a
node. The socket decides and audits; the page checks the same privilege first, so that who may not use the
console gets the 403 page instead of a terminal that is refused."""

from django.views.generic import TemplateView

from access.audit import denials
from guests.choices import GuestKind
from panel.errors import Conflict
from panel.views import PanelPageMixin

from . import services


class GuestConsoleView(PanelPageMixin, TemplateView):
    template_name = "consoles/console.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        guest = services.console_guest(user, kwargs["vmid"])
        with denials(user, "guest.console", guest):
            services.check_may_use_console(user, guest)
        what = "Shell" if guest.kind == GuestKind.CT else "Serial console"
        return super().get_context_data(
            subject=guest, title=f"{what} of {guest}", socket=f"/ws/guests/{guest.vmid}/console/",
            back=guest.get_absolute_url(), current_resource=guest.resource_id, **kwargs)


class GuestDisplayView(PanelPageMixin, TemplateView):
    """A VM's graphical display in noVNC (static/panel/vnc.js)."""

    template_name = "consoles/display.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        guest = services.console_guest(user, kwargs["vmid"])
        with denials(user, "guest.vnc", guest):
            services.check_may_use_console(user, guest)
        if guest.kind != GuestKind.VM:
            raise Conflict(f"{guest} has no display: use its console")
        return super().get_context_data(
            subject=guest, title=f"Display of {guest}", socket=f"/ws/guests/{guest.vmid}/vnc/",
            back=guest.get_absolute_url(), current_resource=guest.resource_id, **kwargs)


class NodeShellView(PanelPageMixin, TemplateView):
    template_name = "consoles/console.html"

    def get_context_data(self, **kwargs: object) -> dict:
        user = self.request.user
        node = services.shell_node(user, kwargs["name"])
        with denials(user, "node.shell", f"node {node.name}"):
            services.check_may_use_shell(user, node)
        return super().get_context_data(
            subject=node, title=f"Shell of node {node.name}", socket=f"/ws/nodes/{node.name}/shell/",
            back=node.get_absolute_url(), current_resource=f"node/{node.name}", **kwargs)
