from django.urls import path

from . import views

urlpatterns = [
    path("nodes/<str:name>/", views.NodeDetailView.as_view(), name="node_detail"),
    path("nodes/<str:name>/tab/<slug:tab>/", views.NodeDetailView.as_view(), name="node_tab"),
    path("nodes/<str:name>/migrateall/", views.NodeMigrateAllView.as_view(), name="node_migrate_all"),
    path("nodes/<str:name>/<str:action>/", views.NodeBulkActionView.as_view(), name="node_bulk_action"),
    path("datacenter/<str:action>/", views.NodeBulkActionView.as_view(), name="datacenter_bulk_action"),
]
