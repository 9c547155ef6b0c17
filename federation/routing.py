"""WebSocket routes: the peer-to-peer federation endpoint (served on the mutual-TLS port)."""

from __future__ import annotations

from django.urls import path

from peers.consumers import FederationConsumer

websocket_urlpatterns = [path("federation/v1", FederationConsumer.as_asgi())]
