"""Handshakes per second and heartbeat round trips against a real node on loopback.

    .venv/bin/python -m bench.bench_handshake [HANDSHAKES] [HEARTBEATS]

Starts a throwaway node (`federation run`, embedded topology unless FEDERATION_DATABASE_URL /
FEDERATION_REDIS_URL say otherwise) and dials its mutual-TLS endpoint with the production client
code (peers.client). Also prints the in-process cost of the handshake cryptography alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import header, rate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(handshakes: int = 200, heartbeats: int = 500) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    os.environ["FEDERATION_SECRET_KEY"] = secrets.token_urlsafe(32)
    from federation import crypto, handshake, home, manifest, tls
    from peers import client

    header("handshake and heartbeat on loopback")
    me = home.init_home(workdir / "client", display_name="bench-client").identity
    server_env = {
        **os.environ,
        "FEDERATION_HOME": str(workdir / "server"),
        "FEDERATION_HANDSHAKE_RATE_LIMIT": "100000",
        "FEDERATION_ADMIN_PASSWORD": "bench-admin-password",
    }
    port = _free_port()
    subprocess.run(
        [sys.executable, "-m", "federation.cli", "init", "--port", str(port)],
        env=server_env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "federation.cli", "run", "--json", "--port", str(port)],
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready = json.loads(server.stdout.readline())
        if ready.get("event") != "ready":
            raise SystemExit(f"the bench node did not start: {ready}")
        import httpx

        server_manifest = httpx.get(f"http://127.0.0.1:{port}/.well-known/federation/manifest.json").json()
        verified = manifest.verify_manifest(server_manifest, now=dt.datetime.now(dt.UTC))
        url = server_manifest["endpoints"]["federation"]
        context = tls.client_context(me)
        own = manifest.build_manifest(
            key=me.signing_key,
            display_name="bench-client",
            endpoints={},
            capabilities=[],
            compliance_modes=[],
            tls_cert_fingerprint=me.tls_fingerprint,
            issued_at=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(hours=1),
        )

        def make_initiator(peer: manifest.VerifiedManifest, pinned: str) -> handshake.Initiator:
            return handshake.Initiator.for_server(me, own, peer, pinned)

        async def one_handshake() -> handshake.Initiator:
            _, initiator, _ = await client.handshake(
                url=url, context=context, server_manifest=server_manifest, make_initiator=make_initiator
            )
            return initiator

        def sequential() -> None:
            async def run() -> None:
                for _ in range(handshakes):
                    await one_handshake()

            asyncio.run(run())

        def concurrent() -> None:
            async def run() -> None:
                for start in range(0, handshakes, 8):
                    await asyncio.gather(*(one_handshake() for _ in range(min(8, handshakes - start))))

            asyncio.run(run())

        rate("full handshake over mTLS, one at a time", handshakes, sequential, repeats=1)
        rate("full handshake over mTLS, 8 in flight", handshakes, concurrent, repeats=1)

        initiator = asyncio.run(one_handshake())
        session_id = initiator.transcript.session_id()
        rtts: list[float] = []

        async def beats() -> None:
            for seq in range(1, heartbeats + 1):
                fields = {
                    "type": "heartbeat",
                    "session_id": session_id,
                    "seq": seq,
                    "sent_at": dt.datetime.now(dt.UTC).isoformat(),
                }
                answer, rtt = await client.exchange(
                    url=url,
                    context=context,
                    pinned=verified.document["tls_cert_fingerprint"],
                    message={**fields, "mac": handshake.heartbeat_mac(initiator.mac_key, fields)},
                )
                assert answer["type"] == "heartbeat_ack", answer
                rtts.append(rtt)

        started = time.perf_counter()
        asyncio.run(beats())
        elapsed = time.perf_counter() - started
        quantiles = statistics.quantiles(rtts, n=100)
        print(
            f"{'heartbeat round trip (open connection)':<44} p50 {quantiles[49]:.2f} ms   p99 {quantiles[98]:.2f} ms"
            f"   ({heartbeats} beats)"
        )
        print(f"{'heartbeat incl. TLS connect, per beat':<44} {elapsed / heartbeats * 1000:>9.2f} ms")

        other = crypto.generate_signing_key()
        other_manifest = manifest.build_manifest(
            key=other,
            display_name="x",
            endpoints={},
            capabilities=[],
            compliance_modes=[],
            tls_cert_fingerprint="sha256:00",
            issued_at=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(hours=1),
        )

        def compute_only() -> None:
            for _ in range(handshakes):
                initiator = handshake.Initiator(
                    signing_key=me.signing_key,
                    node_id=me.node_id,
                    manifest=own,
                    cert_fingerprint=me.tls_fingerprint,
                    server_node_id=other_manifest["node_id"],
                    server_public_key=crypto.public_key_raw(other),
                    server_cert_fingerprint="sha256:00",
                )
                responder = handshake.Responder(
                    signing_key=other,
                    node_id=other_manifest["node_id"],
                    cert_fingerprint="sha256:00",
                    client_cert_fingerprint=me.tls_fingerprint,
                    verify_manifest=lambda d: manifest.verify_manifest(d, now=dt.datetime.now(dt.UTC)),
                )
                challenge = responder.on_hello(initiator.hello(), now=0)
                responder.on_response(initiator.on_challenge(challenge), now=0)

        rate("handshake cryptography only (both sides)", handshakes, compute_only)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
