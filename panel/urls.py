from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from access.forms import ThrottledAuthenticationForm
from panel.views import PAGE_METHODS

urlpatterns = [
    path("", include("consoles.urls")),  # first: see consoles/urls.py
    path("", include("cluster.urls")),
    path("", include("nodes.urls")),
    path("guests/", include("guests.urls")),
    path("tasks/", include("tasks.urls")),
    path("api2/json/", include("api.urls")),
    path("api2/", include("api.docs")),
    path("login/", auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm,
                                                http_method_names=PAGE_METHODS), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("access/", include("access.urls")),
]
if settings.PANEL_DJANGO_ADMIN:  # off in production unless enabled: it bypasses the panel's permissions
    urlpatterns.append(path("admin/", admin.site.urls))
