from django.urls import path
from rest_framework.routers import SimpleRouter

from peers.api.views import PeerViewSet, RegistryManifestsView

router = SimpleRouter(trailing_slash=False)
router.register("peers", PeerViewSet, basename="peer")

urlpatterns = [path("registry/manifests", RegistryManifestsView.as_view(), name="registry-manifests"), *router.urls]
