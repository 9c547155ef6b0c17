from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from federation import views

admin.site.site_header = "Accord federation node"
admin.site.site_title = "Accord"
admin.site.index_title = "Security console"

urlpatterns = [
    path(".well-known/federation/manifest.json", views.manifest, name="manifest"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("federation.api.urls")),
    path("api/v1/audit/", include("compliance.api.urls")),
    path("api/v1/", include("trust.api.urls")),  # before peers: peers/<id>/trust is not a peer id
    path("api/v1/", include("peers.api.urls")),
    path("api/v1/", include("messaging.api.urls")),
    path("api/v1/", include("pii.api.urls")),
    path("api/v1/", include("defence.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
