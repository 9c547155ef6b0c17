"""ASGI entry point served by Daphne: HTTP to Django, WebSockets to the federation routes."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from federation.routing import websocket_urlpatterns  # noqa: E402 - needs Django set up
from messaging.warmup import warm_up  # noqa: E402

warm_up()  # before Daphne listens: the first inbound batch does not wait for the engines

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
