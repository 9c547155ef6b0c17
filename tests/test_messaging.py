"""Sending, delivery bookkeeping, receiving and memory — in-process, through the services, REST and admin."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditEvent
from federation import envelope as env
from federation.capabilities import CLAIM_TYPES
from federation.services import get_identity
from messaging import services
from messaging.models import DeliveryState, InboxMessage, MemoryEntry, OutboxMessage
from peers.models import Peer, Session, TrustTier
from tests.test_peers import foreign_manifest, make_session
from trust import claims as claim_docs
from trust.models import Claim

pytestmark = pytest.mark.django_db
NESTED_40: Any = 1
for _ in range(40):
    NESTED_40 = [NESTED_40]


def grant_claims(peer: Peer, *claim_types: str, expires_at: dt.datetime | None = None) -> None:
    """Fixture: claims this node issued to the peer, signed as issue_claim signs them, but without
    the claim-event notice issue_claim queues (tests here count outbox rows)."""
    identity, now = get_identity(), dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for claim_type in claim_types:
        document = claim_docs.make_claim(
            identity.signing_key,
            claim_type=claim_type,
            issuer=identity.node_id,
            subject=peer.node_id,
            issued_at=now - dt.timedelta(days=1),
            expires_at=expires_at,
        )
        Claim.objects.create(
            claim_id=document["id"],
            peer=peer,
            claim_type=claim_type,
            issuer=identity.node_id,
            subject=peer.node_id,
            expires_at=expires_at,
            document=document,
        )


def make_peer(
    tier: int = TrustTier.ATTESTED, name: str = "remote", *, live: bool = True, claims: tuple[str, ...] = CLAIM_TYPES
) -> Peer:
    document = foreign_manifest(name=name)
    peer = Peer.objects.create(
        node_id=document["node_id"],
        display_name=name,
        public_key=document["public_key"],
        federation_url="wss://127.0.0.1:9/federation/v1",  # nothing listens: deliveries fail
        tls_fingerprint=document["tls_cert_fingerprint"],
        manifest=document,
        manifest_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        trust_tier=tier,
        discovered_via="static",
    )
    grant_claims(peer, *claims)
    if live:
        make_session(peer)
    return peer


def draft(message_type: str = "task-assignment", payload: Any = None, **budget: Any) -> services.Draft:
    return services.make_draft(message_type=message_type, payload=payload or {"task": "zebra-7"}, **budget)


def test_send_persists_the_message_with_its_audit_event_and_returns_the_id() -> None:
    peer = make_peer()
    message = services.send(node_id=peer.node_id, draft=draft(max_tokens=500), actor="agent")
    stored = OutboxMessage.objects.get(message_id=message.message_id)
    assert stored.state == DeliveryState.QUEUED and stored.hops == [get_identity().node_id]
    assert stored.budget == {"maxHops": 8, "maxTokens": 500, "maxUsd": None, "usedTokens": 0, "usedUsd": 0}
    event = AuditEvent.objects.get(action="message.queued")
    assert event.details["id"] == message.message_id and event.subject == peer.node_id
    assert "zebra-7" not in str(event.details)  # the trail records that a message went, not what it said


@pytest.mark.parametrize(
    ("tier", "message_type", "code"),
    [
        (TrustTier.VERIFIED, "task-assignment", "NOT_PERMITTED"),
        (TrustTier.ATTESTED, "context-share", "NOT_PERMITTED"),
        (TrustTier.TRUSTED, "agent-spawn", "NOT_PERMITTED"),
        (TrustTier.UNTRUSTED, "ping", "NOT_PERMITTED"),
    ],
)
def test_send_is_refused_when_the_peers_tier_does_not_allow_the_type(tier: int, message_type: str, code: str) -> None:
    peer = make_peer(tier)
    with pytest.raises(services.MessagingError) as refused:
        services.send(node_id=peer.node_id, draft=draft(message_type), actor="agent")
    assert refused.value.code == code
    assert not OutboxMessage.objects.exists()
    assert AuditEvent.objects.get(action="message.send_refused").details["reason"] == code


def test_a_pin_overrides_the_earned_tier_and_is_audited() -> None:
    from trust.services import pin as pin_tier

    peer = make_peer(TrustTier.VERIFIED)
    pin_tier(node_id=peer.node_id, tier=TrustTier.ATTESTED, reason="contract signed", actor="admin")
    assert services.send(node_id=peer.node_id, draft=draft(), actor="agent")
    event = AuditEvent.objects.get(action="trust.pinned")
    assert event.details == {"from": "VERIFIED", "to": "ATTESTED", "reason": "contract signed"}
    with pytest.raises(Exception, match="reason"):
        pin_tier(node_id=peer.node_id, tier=TrustTier.PRIVILEGED, reason=" ", actor="admin")


def test_unknown_peer_is_refused() -> None:
    with pytest.raises(services.MessagingError) as refused:
        services.send(node_id="nobody", draft=draft(), actor="agent")
    assert refused.value.code == "UNKNOWN_PEER"


@pytest.mark.parametrize(
    ("budget", "payload", "code"),
    [
        ({"max_hops": -1}, None, "INVALID_BUDGET"),
        ({"max_hops": 65}, None, "INVALID_BUDGET"),
        ({"max_hops": 2.5}, None, "INVALID_BUDGET"),
        ({"max_tokens": -5}, None, "INVALID_BUDGET"),
        ({"max_usd": float("nan")}, None, "INVALID_BUDGET"),
        ({"max_usd": float("inf")}, None, "INVALID_BUDGET"),
        ({}, {"blob": "x" * (1024 * 1024)}, "OVERSIZED"),
        ({}, {"a": NESTED_40}, "TOO_DEEP"),
        ({}, {"text": "\udc80"}, "INVALID_UTF8"),
    ],
)
def test_bad_drafts_are_refused_before_anything_is_stored(budget: dict, payload: Any, code: str) -> None:
    with pytest.raises(env.EnvelopeError) as refused:
        draft(payload=payload, **budget)
    assert refused.value.code == code


def received(peer: Peer, *, message_type: str = "task-assignment", **budget: Any) -> InboxMessage:
    """A message as if `peer` had delivered it (origin = peer)."""
    return InboxMessage.objects.create(
        message_id=env.new_id(),
        peer=peer,
        node_id=peer.node_id,
        message_type=message_type,
        payload={"task": "y"},
        budget=env.make_budget(**budget).as_json(),
        hops=[peer.node_id],
        session_id="s",
        seq=1,
        sent_at=dt.datetime.now(dt.UTC),
    )


def test_forwarding_carries_spend_and_the_hop_chain() -> None:
    origin, onward = make_peer(name="origin"), make_peer(name="onward")
    task = received(origin, max_tokens=1000, max_usd=1)
    sent = services.forward(inbox_id=task.message_id, node_id=onward.node_id, actor="agent", spent_tokens=400)
    assert sent.hops == [origin.node_id, get_identity().node_id]
    assert sent.budget["usedTokens"] == 400 and sent.budget["maxTokens"] == 1000
    assert sent.payload == task.payload and sent.message_id != task.message_id


@pytest.mark.parametrize(
    ("budget", "spend", "target", "code"),
    [
        ({"max_hops": 0}, {}, "onward", "HOP_LIMIT_EXCEEDED"),
        ({"max_tokens": 100}, {"spent_tokens": 101}, "onward", "BUDGET_EXCEEDED"),
        ({"max_usd": 0.3}, {"spent_usd": 0.31}, "onward", "BUDGET_EXCEEDED"),
        ({}, {}, "origin", "LOOP_DETECTED"),
        ({}, {"spent_tokens": -1}, "onward", "INVALID_BUDGET"),
    ],
)
def test_forwarding_refuses_exhausted_budgets_and_loops(budget: dict, spend: dict, target: str, code: str) -> None:
    peers = {"origin": make_peer(name="origin"), "onward": make_peer(name="onward")}
    task = received(peers["origin"], **budget)
    with pytest.raises(services.MessagingError) as refused:
        services.forward(inbox_id=task.message_id, node_id=peers[target].node_id, actor="agent", **spend)
    assert refused.value.code == code
    assert not OutboxMessage.objects.exists()
    assert AuditEvent.objects.get(action="message.send_refused").details["reason"] == code


def test_a_reply_answers_the_request_and_marks_it_handled() -> None:
    peer = make_peer()
    task = received(peer, max_tokens=50)
    sent = services.reply(inbox_id=task.message_id, payload={"ok": 1}, actor="agent", spent_tokens=20)
    assert (sent.message_type, sent.reply_to, sent.budget["usedTokens"]) == ("task-result", task.message_id, 20)
    task.refresh_from_db()
    assert task.status == "handled"
    with pytest.raises(services.MessagingError) as refused:
        services.reply(inbox_id=received(peer, message_type="ping").message_id, payload={}, actor="agent")
    assert refused.value.code == "NOT_ANSWERABLE"


@override_settings(FEDERATION_DELIVERY_MAX_ATTEMPTS=2, FEDERATION_DELIVERY_BACKOFF_MS=10)
def test_an_unreachable_peer_gets_retries_with_backoff_then_a_dead_letter_that_can_be_requeued() -> None:
    peer = make_peer()
    message = services.send(node_id=peer.node_id, draft=draft(), actor="agent")
    assert services.deliver_due() == 1
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_error) == ("queued", 1, "UNREACHABLE")
    assert message.next_attempt_at > dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    time.sleep(0.05)
    services.deliver_due()
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("dead_lettered", 2)
    assert AuditEvent.objects.get(action="message.dead_lettered").details["reason"] == "UNREACHABLE"

    assert services.requeue(message_ids=[message.message_id], actor="admin") == 1
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("queued", 0)
    assert AuditEvent.objects.filter(action="message.requeued").count() == 1
    assert services.requeue(message_ids=[message.message_id], actor="admin") == 0  # only dead letters


def test_without_a_live_session_messages_wait_instead_of_failing() -> None:
    peer = make_peer(live=False)
    message = services.send(node_id=peer.node_id, draft=draft(), actor="agent")
    services.deliver_due()
    message.refresh_from_db()
    assert (message.state, message.last_error) == ("queued", "NO_SESSION")


def test_removing_a_peer_keeps_its_messages_and_dead_letters_the_queued_ones() -> None:
    from peers.services import remove_peer

    peer = make_peer()
    message = services.send(node_id=peer.node_id, draft=draft(), actor="agent")
    remove_peer(node_id=peer.node_id, actor="admin")
    message.refresh_from_db()
    assert (message.state, message.last_error, message.node_id) == ("dead_lettered", "PEER_REMOVED", peer.node_id)


# --- receiving, in-process (the real-socket cases are in test_messaging_hostile) ------------------


def sealed(peer: Peer, session: Session, seq: int, *, message_id: str | None = None, **fields: Any) -> dict:
    return env.seal(
        b"k" * 32,  # make_session's key
        message_id=message_id or env.new_id(),
        message_type=fields.pop("message_type", "task-assignment"),
        source=peer.node_id,
        target=get_identity().node_id,
        session=session.session_id,
        seq=seq,
        now_ms=time.time_ns() // 1_000_000,
        budget=env.make_budget(),
        hops=[peer.node_id],
        payload=fields.pop("payload", {"n": seq}),
        **fields,
    )


def test_receiving_stores_once_acknowledges_retries_and_refuses_replays() -> None:
    peer = make_peer()
    session = Session.objects.get(peer=peer)
    first = sealed(peer, session, 1)
    retry = sealed(peer, session, 2, message_id=first["id"])  # same id, signed afresh
    answers = services.receive_batch(
        [first, retry, first, sealed(peer, session, 3)], client_fingerprint=peer.tls_fingerprint, client_addr="x"
    )
    assert [a["status"] for a in answers] == ["stored", "duplicate", "refused", "stored"]
    assert answers[2]["code"] == "REPLAYED"
    assert InboxMessage.objects.count() == 2
    assert AuditEvent.objects.filter(action="message.received").count() == 2
    assert AuditEvent.objects.get(action="message.refused").details["reason"] == "REPLAYED"
    session.refresh_from_db()
    assert (session.envelope_seq_high, session.messages_received) == (3, 2)


def test_a_batch_costs_the_same_queries_whatever_its_size() -> None:
    # Policies, claims, sessions and duplicates are read once per batch, and rows written in bulk.
    peer = make_peer()
    session = Session.objects.get(peer=peer)
    numbers = iter(range(1, 1000))

    def receive(size: int) -> int:
        items = [sealed(peer, session, next(numbers), payload={"text": "call 555-0100"}) for _ in range(size)]
        with CaptureQueriesContext(connection) as queries:
            answers = services.receive_batch(items, client_fingerprint=peer.tls_fingerprint, client_addr="x")
        assert [a["status"] for a in answers] == ["stored"] * size
        return len(queries.captured_queries)

    receive(2)  # warm the process caches
    assert receive(5) == receive(40)

    def send(size: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            services.send_many(items=[(peer.node_id, draft()) for _ in range(size)], actor="t")
        return len(queries.captured_queries)

    assert send(5) == send(40)


def test_a_memory_answer_redacts_by_tier_and_classification() -> None:
    for classification in ("public", "internal", "confidential", "restricted"):
        MemoryEntry.objects.create(
            namespace="n", key=classification, value={"v": classification}, classification=classification
        )
    seen = {
        tier: {m["key"] for m in services.memory_answer(query={"query": ""}, tier=tier)["matches"] if not m["redacted"]}
        for tier in TrustTier.values
    }
    assert seen[TrustTier.VERIFIED] == set()
    assert seen[TrustTier.ATTESTED] == {"public"}
    assert seen[TrustTier.TRUSTED] == {"public", "internal"}
    assert seen[TrustTier.PRIVILEGED] == {"public", "internal", "confidential", "restricted"}
    narrowed = services.memory_answer(query={"query": "confid", "namespace": "n"}, tier=TrustTier.ATTESTED)
    assert [(m["key"], m["value"]) for m in narrowed["matches"]] == [("confidential", "[REDACTED:confidential]")]


# --- REST and admin ---------------------------------------------------------------------------------


def grant(user: Any, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_rest_send_needs_permission_and_reports_reason_codes(api: Any, stranger: Any, token_for: Any) -> None:
    peer = make_peer(TrustTier.VERIFIED)
    token = token_for(stranger)
    body = {"peer": peer.node_id, "type": "task-assignment", "payload": {"a": 1}}
    assert api.post("/api/v1/messages", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    grant(stranger, "add_outboxmessage", "view_outboxmessage")
    refused = api.post("/api/v1/messages", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_PERMITTED"
    bad = api.post("/api/v1/messages", {**body, "max_hops": 99}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_BUDGET"
    peer.trust_tier = TrustTier.ATTESTED
    peer.save()
    accepted = api.post("/api/v1/messages", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert accepted.status_code == 202
    assert accepted.json()["messages"][0]["state"] == "queued"


def test_rest_broadcast_queues_one_message_per_eligible_peer(api: Any, superuser: Any, token_for: Any) -> None:
    eligible = [make_peer(name="a"), make_peer(TrustTier.TRUSTED, name="b")]
    low, offline = make_peer(TrustTier.VERIFIED, name="c"), make_peer(name="d", live=False)
    answer = api.post(
        "/api/v1/messages",
        {"broadcast": True, "type": "task-assignment", "payload": {}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(superuser)}",
    ).json()
    assert {m["peer"] for m in answer["messages"]} == {p.node_id for p in eligible}
    assert len({m["id"] for m in answer["messages"]}) == 2
    assert {s["peer"]: s["code"] for s in answer["skipped"]} == {
        low.node_id: "NOT_PERMITTED",
        offline.node_id: "NO_SESSION",
    }


@pytest.mark.parametrize("path", ["messages", "inbox"])
def test_message_lists_have_no_n_plus_one(
    api: Any, superuser: Any, token_for: Any, path: str, django_assert_num_queries: Any
) -> None:
    token = token_for(superuser)
    for name in ("a", "b", "c"):
        peer = make_peer(name=name)
        services.send(node_id=peer.node_id, draft=draft(), actor="t")
        received(peer)
    api.get(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_assert_num_queries(3):  # token (with its user), count, rows: peers joined, not fetched per row
        body = api.get(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["count"] == 3


def test_memory_is_written_through_rest_with_an_audit_event_but_no_value(
    api: Any, superuser: Any, token_for: Any
) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(superuser)}"}
    entry = {"namespace": "ops", "key": "k", "value": {"secret": "s3cr3t"}, "classification": "restricted"}
    assert api.post("/api/v1/memory", entry, format="json", **headers).status_code == 201
    assert api.post("/api/v1/memory", {**entry, "value": 2}, format="json", **headers).status_code == 201  # upsert
    assert MemoryEntry.objects.get().value == 2
    bad = api.post("/api/v1/memory", {**entry, "classification": "top"}, format="json", **headers)
    assert bad.status_code == 400
    events = AuditEvent.objects.filter(action="memory.written")
    assert events.count() == 2 and "s3cr3t" not in str(list(events.values_list("details", flat=True)))


@pytest.mark.parametrize(
    "url", ["/admin/messaging/outboxmessage/", "/admin/messaging/inboxmessage/", "/admin/messaging/memoryentry/"]
)
def test_messaging_admin_pages_render_with_bounded_queries(
    client: Any, superuser: Any, url: str, django_assert_max_num_queries: Any
) -> None:
    client.force_login(superuser)

    def add(name: str) -> None:
        peer = make_peer(name=name)
        services.send(node_id=peer.node_id, draft=draft(), actor="t")
        received(peer)
        MemoryEntry.objects.create(namespace="n", key=name, value=1)

    add("a")
    client.get(url)
    with django_assert_max_num_queries(20) as few:
        assert client.get(url).status_code == 200
    for name in ("b", "c", "d", "e"):
        add(name)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


@override_settings(FEDERATION_DELIVERY_MAX_ATTEMPTS=1)
def test_admin_requeues_dead_letters(client: Any, superuser: Any) -> None:
    client.force_login(superuser)
    peer = make_peer()
    message = services.send(node_id=peer.node_id, draft=draft(), actor="t")
    services.deliver_due()
    message.refresh_from_db()
    assert message.state == "dead_lettered"
    chart = client.get("/admin/messaging/outboxmessage/").content.decode()
    assert 'id="delivery-summary"' in chart and "<code>UNREACHABLE</code> \u00d7 1" in chart
    assert 'accord-bar-dead_lettered" style="width: 100%"' in chart
    response = client.post(
        "/admin/messaging/outboxmessage/",
        {"action": "requeue", "_selected_action": [message.pk]},
        follow=True,
    )
    assert "Requeued 1 message" in response.content.decode()
    message.refresh_from_db()
    assert message.state == "queued"
    detail = client.get(f"/admin/messaging/outboxmessage/{message.pk}/change/")
    assert detail.status_code == 200 and "zebra-7" in detail.content.decode()


def test_beats_sweep_answers_memory_queries_whose_task_was_lost() -> None:
    peer = make_peer()
    MemoryEntry.objects.create(namespace="n", key="plan", value="north", classification="public")
    query = received(peer, message_type="memory-query")
    InboxMessage.objects.filter(pk=query.pk).update(
        payload={"query": "plan"}, received_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    )
    fresh = received(peer, message_type="memory-query")  # its task may still be on its way
    assert services.answer_pending_queries() == 1
    answer = OutboxMessage.objects.get(reply_to=query.message_id)
    assert answer.message_type == "memory-response" and answer.payload["matches"][0]["value"] == "north"
    assert not OutboxMessage.objects.filter(reply_to=fresh.message_id).exists()
    assert services.answer_pending_queries() == 0  # answered once


def test_pinning_a_tier_in_the_admin_needs_a_reason_and_is_audited(client: Any, superuser: Any) -> None:
    client.force_login(superuser)
    peer = make_peer(TrustTier.VERIFIED, claims=())  # no claim rows: an empty claims inline
    url = f"/admin/peers/peer/{peer.pk}/change/"
    form = {
        **{f"claims-{k}": v for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"))},
        "claims-MAX_NUM_FORMS": "1000",
        "display_name": peer.display_name,
        "pinned_tier": "2",
        "pin_reason": "",
        "sessions-TOTAL_FORMS": "1",
        "sessions-INITIAL_FORMS": "1",
        "sessions-MIN_NUM_FORMS": "0",
        "sessions-MAX_NUM_FORMS": "1000",
        "sessions-0-id": str(Session.objects.get(peer=peer).pk),
        "sessions-0-peer": str(peer.pk),
    }
    assert "Say why the tier is pinned" in client.post(url, form).content.decode()
    response = client.post(url, {**form, "pin_reason": "audit passed"})
    assert response.status_code == 302
    peer.refresh_from_db()
    assert (peer.effective_tier, peer.trust_tier, peer.pinned_by) == (
        TrustTier.ATTESTED,
        TrustTier.VERIFIED,
        "admin:root",
    )
    event = AuditEvent.objects.get(action="trust.pinned")
    assert event.actor == "admin:root" and event.details["reason"] == "audit passed"


def test_cli_reply_and_forward_report_ids_and_reason_codes(capsys: Any) -> None:
    from federation import cli

    origin, onward = make_peer(name="origin"), make_peer(name="onward")
    task = received(origin, max_hops=0, max_tokens=10)
    assert cli.main(["forward", task.message_id, onward.node_id, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "HOP_LIMIT_EXCEEDED"
    assert cli.main(["reply", task.message_id, "--payload", '{"done": true}', "--spent-tokens", "11", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "BUDGET_EXCEEDED"
    assert cli.main(["reply", task.message_id, "--payload", '{"done": true}', "--spent-tokens", "7", "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert (sent["type"], sent["reply_to"], sent["budget"]["usedTokens"]) == ("task-result", task.message_id, 7)


@pytest.mark.django_db(transaction=True)
def test_two_delivery_loops_racing_for_the_same_messages_never_lease_one_twice() -> None:
    """On PostgreSQL two loops lease at once; a message leased twice would be sent twice."""
    import threading

    if connection.vendor == "sqlite":
        pytest.skip("SQLite lets one writer at a time: leases cannot overlap there")
    peer = make_peer()
    services.send_many(items=[(peer.node_id, draft()) for _ in range(400)], actor="agent")
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def loop(k: int) -> None:
        try:
            start.wait()
            while True:
                lease = services._lease(10)
                if lease is not None:
                    claimed[k] += [m.pk for m in lease.messages]
                elif not services._anything_due():  # None also means "the other loop won these"
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(OutboxMessage.objects.values_list("pk", flat=True))
