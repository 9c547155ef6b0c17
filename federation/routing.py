"""WebSocket routes. The peer-to-peer federation endpoint joins with the handshake (issue #3);
until then every WebSocket connection is refused by the router (no route matches)."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
