from django.urls import path

from . import views

urlpatterns = [
    path("", views.DatacenterView.as_view(), name="datacenter"),
    path("datacenter/tab/<slug:tab>/", views.DatacenterView.as_view(), name="datacenter_tab"),
    path("status", views.StatusView.as_view(), name="status"),
    path("status.json", views.StatusJsonView.as_view(), name="status_json"),
]
