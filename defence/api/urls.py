from django.urls import path

from defence.api.views import ScanView

urlpatterns = [
    path("defence/scan", ScanView.as_view(), name="api-defence-scan"),
]
