from django.urls import path

from trust.api.views import PeerTrustView

urlpatterns = [path("peers/<str:node_id>/trust", PeerTrustView.as_view(), name="peer-trust")]
