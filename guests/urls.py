from django.urls import path

from . import views

urlpatterns = [
    path("", views.GuestListView.as_view(), name="guest_list"),
    path("create/<str:kind>/", views.GuestCreateView.as_view(), name="guest_create"),
    path("<int:vmid>/", views.GuestDetailView.as_view(), name="guest_detail"),
    path("<int:vmid>/pool/", views.GuestPoolView.as_view(), name="guest_pool"),
    path("<int:vmid>/migrate/", views.GuestMigrateView.as_view(), name="guest_migrate"),
    path("<int:vmid>/<str:action>/", views.GuestActionView.as_view(), name="guest_action"),
]
