from django.urls import path

from . import views

urlpatterns = [
    path("", views.DatacenterView.as_view(), name="datacenter"),
    path("nodes/<str:name>/", views.NodeDetailView.as_view(), name="node_detail"),
]
