"""Bulk trust recomputation: every peer's score, tier and history, as beat runs it.

    .venv/bin/python -m bench.bench_trust [PEERS]                     # SQLite (embedded)
    FEDERATION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.bench_trust [PEERS]                 # PostgreSQL (own temp database)

Each peer gets a session with heartbeat and traffic counters, and 1 in 10 peers delivery outcomes,
so every input has evidence to aggregate. The first beat promotes every peer (an audit event, a
queued trust-change notice and a history row each); the second writes history rows (the reasons
changed from PROMOTED_TO_ATTESTED to BELOW_UPGRADE_TRUSTED); the third is the steady state.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import time

from bench.common import django_node, header


def populate(count: int) -> None:
    from django.utils import timezone

    from federation import envelope as env
    from messaging.models import DeliveryState, OutboxMessage
    from peers.models import Peer, Session, TrustTier

    now = timezone.now()
    peers = Peer.objects.bulk_create(
        [
            Peer(
                node_id=f"bench{i:06d}{secrets.token_hex(4)}",
                display_name=f"peer {i}",
                public_key="",
                tls_fingerprint=f"sha256:{i:064x}",
                manifest={},
                manifest_expires_at=now + dt.timedelta(days=1),
                trust_tier=TrustTier.VERIFIED,
                discovered_via="static",
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    Session.objects.bulk_create(
        [
            Session(
                peer=peer,
                session_id=secrets.token_hex(16),
                role="initiator",
                protocol_version="accord/1",
                expires_at=now + dt.timedelta(hours=1),
                mac_key_encrypted=b"",
                heartbeats_ok=100,
                heartbeats_failed=i % 3,
                messages_sent=40 + i % 50,
                messages_received=30,
            )
            for i, peer in enumerate(peers)
        ],
        batch_size=1000,
    )
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                message_id=env.new_id(), peer=peer, node_id=peer.node_id, message_type="ping", payload={},
                budget={}, hops=[], finished_at=now,
                state=DeliveryState.DELIVERED if j < 8 else DeliveryState.REFUSED,
            )
            for peer in peers[::10]
            for j in range(10)
        ],
        batch_size=1000,
    )  # fmt: skip


def main(count: int = 10_000) -> None:
    with django_node() as vendor:
        from django.db.models import Count

        from peers.models import Peer
        from trust import services
        from trust.models import TrustEvaluation

        header(f"trust recomputation on {vendor}")
        populate(count)
        for label in (
            "first beat (promotions, notices, history)",
            "second beat (new reasons: history rows)",
            "steady beat (nothing changed)",
        ):
            started = time.perf_counter()
            result = services.recompute_all()
            elapsed = time.perf_counter() - started
            print(
                f"{label:<44} {count / elapsed:>12,.0f} peers/s   ({count} peers in {elapsed:.2f}s; "
                f"{result['changed']} tier changes)"
            )
        tiers = dict(Peer.objects.values_list("trust_tier").annotate(n=Count("pk")))
        print(f"# tiers after: {tiers}; history rows: {TrustEvaluation.objects.count()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
