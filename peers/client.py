"""Dialling a peer's federation endpoint: mutual TLS, certificate pinning, JSON frames.

Async functions built on `websockets`; they speak the protocol and raise HandshakeError with a
reason code, and never touch the database (peers.services does, around them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets

from federation import manifest, tls
from federation.handshake import MAX_FRAME_BYTES, HandshakeError, Initiator

RECEIVE_TIMEOUT = 10.0


@asynccontextmanager
async def connect(url: str, context: ssl.SSLContext, pinned: str | None) -> Any:
    """Open the WebSocket; refuse the server unless its certificate matches `pinned` (when known)."""
    if not url.startswith("wss://"):
        raise HandshakeError("bad_endpoint", f"federation endpoints must be wss:// (got {url[:80]!r})")
    try:
        socket = await websockets.connect(url, ssl=context, max_size=MAX_FRAME_BYTES, open_timeout=RECEIVE_TIMEOUT)
    except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as exc:
        raise HandshakeError("unreachable", f"cannot open {url}: {type(exc).__name__}: {exc}") from exc
    try:
        der = socket.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        fingerprint = tls.fingerprint_der(der)
        if pinned is not None and fingerprint != pinned:
            raise HandshakeError("certificate_mismatch", "server certificate does not match the manifest pin")
        yield socket, fingerprint
    finally:
        await socket.close()


async def receive(socket: Any) -> dict[str, Any]:
    try:
        raw = await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT)
    except TimeoutError as exc:
        raise HandshakeError("timeout", "the peer did not answer in time") from exc
    except websockets.exceptions.ConnectionClosed as exc:
        raise HandshakeError("connection_closed", f"the peer closed the connection ({exc.rcvd})") from exc
    try:
        message = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise HandshakeError("malformed", "the peer sent a frame that is not JSON") from exc
    if not isinstance(message, dict):
        raise HandshakeError("malformed", "the peer sent a JSON value that is not an object")
    if message.get("type") == "error":
        raise HandshakeError(str(message.get("code", "refused"))[:64], f"peer refused: {message.get('message', '')}")
    return message


async def send(socket: Any, message: dict[str, Any]) -> None:
    await socket.send(json.dumps(message, separators=(",", ":")))


async def handshake(
    *,
    url: str,
    context: ssl.SSLContext,
    server_manifest: dict[str, Any] | None,
    make_initiator: Callable[[manifest.VerifiedManifest, str], Initiator],
) -> tuple[manifest.VerifiedManifest, Initiator, dict[str, Any]]:
    """Run the client side. Without a manifest (a bare wss:// endpoint) it first asks the server
    for one on the same connection and checks the connection's certificate against it."""
    async with connect(url, context, None) as (socket, server_fingerprint):
        if server_manifest is None:
            await send(socket, {"type": "manifest_request"})
            server_manifest = (await receive(socket)).get("manifest")
        try:
            verified = manifest.verify_manifest(server_manifest, now=dt.datetime.now(dt.UTC))
        except manifest.ManifestError as exc:
            raise HandshakeError(f"manifest_{exc.code}", f"server manifest refused: {exc}") from exc
        pinned = verified.document["tls_cert_fingerprint"]
        if server_fingerprint != pinned:
            raise HandshakeError("certificate_mismatch", "server certificate does not match the manifest pin")
        initiator = make_initiator(verified, pinned)
        await send(socket, initiator.hello())
        await send(socket, initiator.on_challenge(await receive(socket)))
        established = initiator.on_established(await receive(socket))
        return verified, initiator, established


async def exchange(
    *, url: str, context: ssl.SSLContext, pinned: str, message: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """One request, one answer (heartbeats, session-terminate). Returns the answer and the
    round-trip time in milliseconds, measured on the open connection."""
    async with connect(url, context, pinned) as (socket, _):
        started = time.perf_counter()
        await send(socket, message)
        answer = await receive(socket)
        return answer, (time.perf_counter() - started) * 1000
