"""Small shared view helpers."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView


class PanelPageMixin(LoginRequiredMixin):
    """Every page of the panel needs a login; the public status page comes with access control."""


class PanelTemplateView(PanelPageMixin, TemplateView):
    pass
