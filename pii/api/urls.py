from django.urls import path

from pii.api.views import ScanView, TransformView

urlpatterns = [
    path("pii/scan", ScanView.as_view(), name="api-pii-scan"),
    path("pii/transform", TransformView.as_view(), name="api-pii-transform"),
]
