"""WebSocket routes on the mutual-TLS port: the handshake/session endpoint and the envelope endpoint."""

from __future__ import annotations

from django.urls import path

from messaging.consumers import EnvelopeConsumer
from peers.consumers import FederationConsumer

websocket_urlpatterns = [
    path("federation/v1", FederationConsumer.as_asgi()),
    path("federation/v1/envelopes", EnvelopeConsumer.as_asgi()),
]
