from django.urls import include, path

from . import views, views_config

urlpatterns = [
    path("", views.GuestListView.as_view(), name="guest_list"),
    path("bulk/", views.GuestSelectionView.as_view(), name="guest_selection"),
    path("create/<str:kind>/", views.GuestCreateView.as_view(), name="guest_create"),
    path("<vmid:vmid>/", views.GuestDetailView.as_view(), name="guest_detail"),
    path("<vmid:vmid>/tab/<slug:tab>/", views.GuestDetailView.as_view(), name="guest_tab"),
    path("<vmid:vmid>/pool/", views.GuestPoolView.as_view(), name="guest_pool"),
    path("<vmid:vmid>/migrate/", views.GuestMigrateView.as_view(), name="guest_migrate"),
    path("<vmid:vmid>/hardware/", views_config.GuestHardwareView.as_view(), name="guest_hardware"),
    path("<vmid:vmid>/options/", views_config.GuestOptionsView.as_view(), name="guest_options"),
    path("<vmid:vmid>/notes/", views_config.GuestNotesView.as_view(), name="guest_notes"),
    path("<vmid:vmid>/snapshots/", include("guests.views_snapshots")),
    path("<vmid:vmid>/<str:action>/", views.GuestActionView.as_view(), name="guest_action"),
]
