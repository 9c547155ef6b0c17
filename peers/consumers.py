"""The federation WebSocket endpoint (mutual-TLS port): handshakes, heartbeats, terminations.

Each handler is short; the protocol lives in federation.handshake and peers.services.
"""

from __future__ import annotations

import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from federation import services as node_services
from federation import tls
from federation.handshake import MAX_FRAME_BYTES, HandshakeError, Responder
from peers import services

CLOSE_REFUSED = 4403
RATE_WINDOW_SECONDS = 60


def _allow_attempt(client_addr: str) -> bool:
    """Fixed-window counter per client address, shared by all web processes in production."""
    key = f"handshake-rate:{client_addr}"
    cache.add(key, 0, RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RATE_WINDOW_SECONDS)
        count = 1
    return count <= settings.FEDERATION_HANDSHAKE_RATE_LIMIT


class MutualTLSConsumer(AsyncWebsocketConsumer):
    """Accepts only connections that came through the mutual-TLS endpoint with a certificate,
    within the per-address rate limit; remembers the certificate's fingerprint."""

    client_fingerprint: str = ""
    client_addr: str = ""
    # These consumers only answer their own socket; nothing reaches them from other processes.
    # Not subscribing to the channel layer saves a blocking Redis read per open connection
    # (which redis-py times out, killing long-lived envelope connections every few seconds).
    channel_layer_alias = "unused-by-peer-connections"

    async def connect(self) -> None:
        client = self.scope.get("client") or ("", 0)
        self.client_addr = str(client[0])
        fingerprint = tls.peer_fingerprint(client)
        if fingerprint is None:  # plain connection, or not through the mutual-TLS endpoint
            await self._refuse_connection("not_mutual_tls", "the federation endpoint is served over mutual TLS only")
            return
        if fingerprint == tls.NO_CERTIFICATE:
            await self._refuse_connection("no_client_certificate", "a client certificate is required")
            return
        if not await database_sync_to_async(_allow_attempt)(self.client_addr):
            await self._refuse_connection("rate_limited", "too many attempts from this address")
            return
        self.client_fingerprint = fingerprint
        await self.accept()

    async def _refuse_connection(self, code: str, text: str) -> None:
        await database_sync_to_async(services.record_inbound_refusal)(
            code=code, message=text, client_addr=self.client_addr
        )
        await self.close(code=CLOSE_REFUSED)

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _send_error(self, code: str, text: str) -> None:
        await self._send({"type": "error", "code": code, "message": text[:300]})


class FederationConsumer(MutualTLSConsumer):
    responder: Responder | None = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None or len(raw) > MAX_FRAME_BYTES:
            await self._fail("oversized", f"frames are limited to {MAX_FRAME_BYTES} bytes")
            return
        try:
            message = json.loads(raw)
        except (TypeError, ValueError):
            await self._fail("malformed", "frame is not JSON")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._fail("malformed", "frame must be an object with a string 'type'")
            return
        handler = getattr(self, f"on_{message['type']}", None)
        if handler is None:
            await self._fail("unknown_type", f"unknown message type {message['type'][:40]!r}")
            return
        try:
            await handler(message)
        except HandshakeError as exc:
            await self._fail(exc.code, str(exc))
        except services.PeerError as exc:
            await self._send_error(exc.code, str(exc))
            await self.close(code=CLOSE_REFUSED)

    async def on_manifest_request(self, message: dict[str, Any]) -> None:
        document = await database_sync_to_async(node_services.current_manifest)()
        await self._send({"type": "manifest", "manifest": document})

    async def on_hello(self, message: dict[str, Any]) -> None:
        if self.responder is not None:
            raise HandshakeError("unexpected_message", "one handshake per connection")
        self.responder = await database_sync_to_async(services.new_responder)(
            client_cert_fingerprint=self.client_fingerprint
        )
        await self._send(self.responder.on_hello(message, now=time.monotonic()))

    async def on_response(self, message: dict[str, Any]) -> None:
        if self.responder is None:
            raise HandshakeError("unexpected_message", "response before hello")
        transcript = self.responder.on_response(message, now=time.monotonic())
        session = await database_sync_to_async(services.complete_inbound_handshake)(self.responder, transcript)
        await self._send(
            {
                "type": "established",
                "session_id": session.session_id,
                "expires_at": session.expires_at.isoformat(),
                "heartbeat_seconds": settings.FEDERATION_SESSION_HEARTBEAT_SECONDS,
            }
        )
        await self.close()

    async def on_heartbeat(self, message: dict[str, Any]) -> None:
        ack = await database_sync_to_async(services.answer_heartbeat)(
            message, client_cert_fingerprint=self.client_fingerprint
        )
        await self._send(ack)

    async def on_session_terminate(self, message: dict[str, Any]) -> None:
        answer = await database_sync_to_async(services.answer_terminate)(
            message, client_cert_fingerprint=self.client_fingerprint
        )
        await self._send(answer)

    async def _fail(self, code: str, text: str) -> None:
        """Refuse a handshake step: tell the peer why, audit it, close."""
        node_id = self.responder.client.node_id if self.responder and self.responder.client else ""
        await database_sync_to_async(services.record_inbound_refusal)(
            code=code, message=text, client_addr=self.client_addr, node_id=node_id
        )
        await self._send_error(code, text)
        await self.close(code=CLOSE_REFUSED)
