from django.urls import path

from federation.api.views import StatusView

urlpatterns = [path("status", StatusView.as_view(), name="api-status")]
