"""The tabs of an object's panel (datacenter, node, guest), as in Proxmox's workspace.

A tab is one line in its object's ``TabSet`` (``cluster/tabs.py``, ``nodes/tabs.py``, ``guests/tabs.py``): a name
(its URL), a label, the template that draws its content (``templates/<app>/tabs/<name>.html``, included in the
object's page below the tab bar), and optionally, as dotted paths imported on first use so that a tab may live in
any module without import cycles:

- ``context(request, obj) -> dict``: what the template needs besides the page's own context;
- ``visible(user, obj) -> bool``: whether the user may see the tab at all (an absent tab is a 404: everything a
  user may not do is absent); the decision itself belongs to a service or ``access.permissions``.

A tab's page only shows (GET). Its forms post to views of their own (each route is in the permission matrix,
tests/access/matrix_routes.py) that redirect back to the tab, or draw it again with the form's errors: a view
subclassing the object's page view (``guests.views.GuestDetailView``) whose ``post`` ends in
``self.render_to_response(self.get_context_data(form=form), status=400)``, with ``tab`` in its URL's kwargs.

The first visible tab of a set is the object's own URL (``/guests/101/``); the others are
``<object URL>tab/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.http import Http404, HttpRequest
from django.utils.module_loading import import_string
from django.views.generic import TemplateView

from .views import PanelPageMixin


def _load(target: str | Callable | None) -> Callable | None:
    return import_string(target) if isinstance(target, str) else target


@dataclass(frozen=True)
class Tab:
    name: str
    label: str
    template: str
    context: str | Callable | None = None
    visible: str | Callable | None = None

    def is_visible(self, user: object, obj: object) -> bool:
        check = _load(self.visible)
        return check is None or bool(check(user, obj))

    def context_for(self, request: HttpRequest, obj: object) -> dict:
        build = _load(self.context)
        return build(request, obj) if build else {}


class TabSet:
    """The tabs of one kind of object, in the order the tab bar shows them."""

    def __init__(self, *tabs: Tab) -> None:
        self.tabs = tabs
        names = [tab.name for tab in tabs]
        if len(set(names)) != len(names):
            raise ValueError(f"two tabs with one name in {names}")

    def visible(self, user: object, obj: object) -> list[Tab]:
        return [tab for tab in self.tabs if tab.is_visible(user, obj)]


class TabbedPageView(PanelPageMixin, TemplateView):
    """An object's page: its header (``page_context``), the tab bar and the current tab.

    Subclasses set ``tabs``, ``template_name`` (the page, which includes ``tab.template``) and implement
    ``get_object`` and ``tab_url``; ``page_context`` gives what every tab of the object shows (title, actions)."""

    tabs: TabSet

    def get_object(self) -> object:
        raise NotImplementedError

    def tab_url(self, obj: object, tab: Tab, first: bool) -> str:
        raise NotImplementedError

    def page_context(self, obj: object) -> dict:
        return {}

    @cached_property
    def object(self) -> object:
        return self.get_object()

    def current_tab(self) -> tuple[Tab, list[Tab]]:
        shown = self.tabs.visible(self.request.user, self.object)
        name = self.kwargs.get("tab")
        if not shown:
            raise Http404("nothing to show here")
        if name is None:
            return shown[0], shown
        for tab in shown:
            if tab.name == name:
                return tab, shown
        raise Http404(f"no tab {name!r} here")

    def get_context_data(self, **kwargs: object) -> dict:
        obj = self.object
        tab, shown = self.current_tab()
        context = super().get_context_data(**kwargs)
        context.update(self.page_context(obj))
        context.update(
            tab=tab,
            tab_links=[(t, self.tab_url(obj, t, i == 0)) for i, t in enumerate(shown)],
            tab_url=self.tab_url(obj, tab, tab is shown[0]),
        )
        context.update(tab.context_for(self.request, obj))
        # What a view drawing the tab again gives (a form with its errors) wins; the URL's own kwargs do not.
        context.update({key: value for key, value in kwargs.items() if key not in self.kwargs})
        return context
