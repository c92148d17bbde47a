"""The OpenAPI description of /api2/json and its viewers, at stable addresses: /api2/openapi.json (also
.yaml), /api2/docs/ (Swagger UI) and /api2/redoc/ (Redoc), with their files served by the panel itself
(drf-spectacular's sidecar). Readable without a login, as the description holds no data."""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

PUBLIC = {"authentication_classes": [], "permission_classes": [AllowAny]}


class PlainOptions:
    """OPTIONS of an HTML viewer: its methods only (DRF's metadata would be rendered by the viewer's template)."""

    def options(self, request, *args, **kwargs) -> HttpResponse:
        response = HttpResponse()
        response["Allow"] = ", ".join(self.allowed_methods)
        return response


class SwaggerView(PlainOptions, SpectacularSwaggerView):
    pass


class RedocView(PlainOptions, SpectacularRedocView):
    pass


urlpatterns = [
    path("openapi.json", SpectacularAPIView.as_view(**PUBLIC), {"format": "json"}, name="api-schema"),
    path("openapi.yaml", SpectacularAPIView.as_view(**PUBLIC), {"format": "yaml"}, name="api-schema-yaml"),
    path("docs/", SwaggerView.as_view(url_name="api-schema", **PUBLIC), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema", **PUBLIC), name="api-redoc"),
]
