"""The PII pipeline as the node runs it: default policies, the boundary both ways, keyed hashing
per pair of nodes, review and calibration, and the CLI, REST and admin that expose them."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from compliance.models import AuditEvent
from federation import crypto
from messaging import services as messaging
from messaging.models import InboxMessage, OutboxMessage
from peers.models import Peer, Session, TrustTier
from pii import services
from pii.engine import TYPES
from pii.models import Calibration, PiiPolicy, ReviewFinding, ReviewSample, Verdict
from tests.test_messaging import make_peer, sealed

pytestmark = pytest.mark.django_db

EMAIL = "dana.whitfield@example.org"
SSN = "536-22-1234"


def test_the_default_policies_are_safe_for_every_type() -> None:
    policies = {p.pii_type: p for p in PiiPolicy.objects.all()}
    assert set(policies) == set(TYPES)
    for policy in policies.values():
        assert policy.untrusted == policy.verified == "BLOCK"  # low tiers get nothing
        assert 0 < policy.threshold <= 1
    for secret in ("api_key", "aws_key", "private_key", "github_token"):
        assert {policies[secret].action_for(tier) for tier in range(5)} == {"BLOCK"}
    for secret in ("password", "jwt", "database_url"):  # the few a PRIVILEGED peer gets redacted
        assert [policies[secret].action_for(tier) for tier in range(5)] == ["BLOCK"] * 4 + ["REDACT"]
    assert policies["email"].action_for(TrustTier.ATTESTED) == "REDACT"


def test_both_nodes_of_a_pair_derive_the_same_hash_key_and_nobody_else_does() -> None:
    a, b, c = (crypto.generate_signing_key() for _ in range(3))
    ids = ("node-a", "node-b")

    def key(own: Any, other: Any, purpose: str = "pii-hash/v1") -> bytes:
        return crypto.pair_secret(own, crypto.public_key_raw(other), purpose=purpose, node_ids=ids)

    assert key(a, b) == key(b, a)
    assert key(a, c) != key(a, b) and key(c, b) != key(a, b)
    assert key(a, b, "other-purpose") != key(a, b)


# --- the boundary ---------------------------------------------------------------------------------


def send(peer: Peer, payload: Any) -> OutboxMessage:
    draft = messaging.make_draft(message_type="task-assignment", payload=payload)
    return messaging.send(node_id=peer.node_id, draft=draft, actor="agent")


def trail() -> str:
    return json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))


def test_outbound_pii_is_redacted_before_signing_and_recorded_without_values() -> None:
    peer = make_peer(TrustTier.ATTESTED)
    message = send(peer, {"note": f"please write to {EMAIL} today", EMAIL: "key too"})
    assert message.payload == {"note": "please write to [REDACTED:email] today", "[REDACTED:email]": "key too"}
    assert message.pii_scan == {"email": {"count": 2, "action": "REDACT"}}
    event = AuditEvent.objects.get(action="message.queued")
    assert event.details["pii"] == {"email": {"count": 2, "action": "REDACT"}}
    assert EMAIL not in trail()


def test_outbound_pii_the_tier_may_not_receive_blocks_the_message() -> None:
    peer = make_peer(TrustTier.ATTESTED)
    with pytest.raises(messaging.MessagingError) as refused:
        send(peer, {"patient": f"SSN {SSN}, mail {EMAIL}"})
    assert refused.value.code == "PII_BLOCKED" and "ssn" in str(refused.value)
    assert not OutboxMessage.objects.exists()
    event = AuditEvent.objects.get(action="message.send_refused")
    assert event.details["reason"] == "PII_BLOCKED"
    assert event.details["pii"]["ssn"] == {"count": 1, "action": "BLOCK"}
    assert SSN not in trail() and EMAIL not in trail()


def test_a_trusted_peer_gets_a_keyed_hash_that_is_stable_for_the_pair() -> None:
    peer = make_peer(TrustTier.TRUSTED)
    first = send(peer, {"account": EMAIL}).payload["account"]
    again = send(peer, {"account": EMAIL.upper()}).payload["account"]  # same address, other spelling
    assert re.fullmatch(r"\[HASH:email:[0-9a-f]{24}\]", first) and first == again
    other = send(make_peer(TrustTier.TRUSTED, name="other"), {"account": EMAIL}).payload["account"]
    assert other != first  # another pair, another key: tokens cannot be joined across pairs
    import hashlib

    assert hashlib.sha256(EMAIL.encode()).hexdigest()[:24] not in first  # never a plain hash


def test_the_envelope_carries_the_senders_pii_report() -> None:
    peer = make_peer(TrustTier.ATTESTED)
    message = send(peer, {"note": f"cc {EMAIL}"})
    session = Session.objects.get(peer=peer)
    sealed, _ = messaging._seal_all(peer, session, [message], 1)
    document = sealed[0][1]
    assert document["scan"] == {"pii": {"email": {"count": 1, "action": "REDACT"}}}
    assert document["payload"] == {"note": "cc [REDACTED:email]"}


def inbound(peer: Peer, payload: Any, seq: int = 1) -> dict[str, Any]:
    document = sealed(peer, Session.objects.get(peer=peer), seq, payload=payload, scan={"pii": {}})
    return messaging.receive_batch([document], client_fingerprint=peer.tls_fingerprint, client_addr="test")[0]


def test_inbound_pii_is_screened_after_verification_for_the_senders_tier() -> None:
    peer = make_peer(TrustTier.ATTESTED)
    answer = inbound(peer, {"from": f"reach me at {EMAIL}"})
    assert answer["status"] == "stored"
    stored = InboxMessage.objects.get()
    assert stored.payload == {"from": "reach me at [REDACTED:email]"}
    assert stored.pii_scan == {"email": {"count": 1, "action": "REDACT"}} and stored.sender_scan == {}
    assert AuditEvent.objects.get(action="message.received").details["pii"]["email"]["count"] == 1
    assert EMAIL not in trail()


def test_inbound_pii_the_sender_may_not_send_is_refused_and_nothing_is_stored() -> None:
    peer = make_peer(TrustTier.ATTESTED)
    answer = inbound(peer, {"note": f"her SSN is {SSN}"})
    assert answer["status"] == "refused" and answer["code"] == "PII_BLOCKED" and "ssn" in answer["message"]
    assert not InboxMessage.objects.exists()
    assert AuditEvent.objects.get(action="message.refused").details["reason"] == "PII_BLOCKED"
    assert SSN not in trail()


# --- review and calibration ---------------------------------------------------------------------


def email_sample(count: int = 12) -> ReviewSample:
    text = "\n".join(f"contact person{i}.lastname@example.org about the invoice" for i in range(count))
    return services.submit_sample(text=text, title="emails", actor="analyst")


def test_false_positive_verdicts_push_a_detector_below_its_threshold_and_a_reset_undoes_it() -> None:
    probe = f"write to {EMAIL}"
    assert [d.type for d in services.detect(probe)] == ["email"]
    sample = email_sample()
    findings = sample.findings.filter(pii_type="email")
    assert findings.count() == 12
    services.set_verdict(finding_ids=findings.values_list("pk", flat=True), verdict="false_positive", actor="analyst")
    assert services.recompute_calibration() >= 2  # the detector's row and the type's row
    assert services.detect(probe) == []  # the analysts said this detector is wrong: below the threshold now
    row = Calibration.objects.get(scope="type", key="email")
    assert (row.false_positive, row.confirmed, row.samples) == (12, 0, 12)
    services.reset_calibration(calibration_ids=Calibration.objects.values_list("pk", flat=True), actor="analyst")
    assert [d.type for d in services.detect(probe)] == ["email"]
    assert services.recompute_calibration() == 0  # verdicts before the reset stay forgotten
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"pii.sample_submitted", "pii.reviewed", "pii.calibration_recomputed", "pii.calibration_reset"} <= actions


def test_confirmations_raise_a_detections_confidence_over_a_strict_threshold() -> None:
    raw = services.scanner().scan(EMAIL)[0].confidence
    PiiPolicy.objects.filter(pii_type="email").update(threshold=(raw + 1) / 2)
    services.forget_cache()
    assert services.detect(EMAIL) == []
    sample = email_sample(40)
    services.set_verdict(finding_ids=sample.findings.values_list("pk", flat=True), verdict="confirmed", actor="a")
    services.recompute_calibration()
    assert [d.type for d in services.detect(EMAIL)] == ["email"]


def test_a_missed_span_is_recorded_for_recall_and_bad_spans_are_refused() -> None:
    sample = services.submit_sample(text="call Bob on the usual line", actor="analyst")
    services.add_missed(sample=sample, pii_type="person_name", start=5, end=8, actor="analyst")
    services.recompute_calibration()
    assert Calibration.objects.get(scope="type", key="person_name").missed == 1
    with pytest.raises(ValueError, match="span"):
        services.add_missed(sample=sample, pii_type="person_name", start=5, end=500, actor="analyst")


# --- CLI ---------------------------------------------------------------------------------------


def run_cli(monkeypatch: Any, capsys: Any, stdin: bytes, *args: str) -> tuple[int, list[dict[str, Any]]]:
    from federation import cli

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = cli.main(["pii", "scan", *args])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_cli_scan_reads_json_lines_and_answers_each_even_after_bad_ones(monkeypatch: Any, capsys: Any) -> None:
    text = f"mail {EMAIL} now"
    lines = [
        json.dumps({"id": "a", "text": text}).encode(),
        b"{not json",
        b"",
        json.dumps({"id": "c", "text": 5}).encode(),
        b'{"id": "d", "text": "caf\xc3"}',  # invalid UTF-8
        json.dumps({"id": 7, "text": "nothing here"}).encode(),
    ]
    code, results = run_cli(monkeypatch, capsys, b"\n".join(lines) + b"\n")
    assert code == 0
    assert [r["id"] for r in results] == ["a", None, "c", None, 7]
    detection = results[0]["detections"][0]
    assert (detection["type"], text[detection["start"] : detection["end"]]) == ("email", EMAIL)
    assert 0.5 <= detection["confidence"] <= 1
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "MALFORMED_JSON",
        "SCHEMA_INVALID",
        "INVALID_UTF8",
        None,
    ]
    assert results[4]["detections"] == []
    event = AuditEvent.objects.get(action="pii.scanned")
    assert event.details["items"] == 5 and event.details["errors"] == 3 and EMAIL not in trail()


def test_cli_redact_applies_a_tiers_policy(monkeypatch: Any, capsys: Any) -> None:
    line = json.dumps({"id": 1, "text": f"mail {EMAIL}"}).encode()
    code, results = run_cli(monkeypatch, capsys, line, "--redact", "--tier", "ATTESTED")
    assert code == 0 and results == [
        {"id": 1, "text": "mail [REDACTED:email]", "pii": {"email": {"count": 1, "action": "REDACT"}}}
    ]
    code, results = run_cli(monkeypatch, capsys, line, "--redact", "--tier", "0")
    assert results[0]["text"] is None and results[0]["blocked"] == ["email"]
    from federation import cli

    assert cli.main(["pii", "scan", "--redact"]) == 2  # which tier?
    assert cli.main(["pii", "scan", "--redact", "--tier", "GODLIKE"]) == 2


# --- REST --------------------------------------------------------------------------------------


def test_rest_scan_and_transform(api: Any, stranger: Any, auditor: Any, token_for: Any) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(stranger)}"}
    assert api.post("/api/v1/pii/scan", {"id": 1, "text": EMAIL}, format="json", **headers).status_code == 403
    stranger.user_permissions.add(Permission.objects.get(codename="view_piipolicy"))
    one = api.post("/api/v1/pii/scan", {"id": 1, "text": f"to {EMAIL}"}, format="json", **headers)
    assert one.status_code == 200 and one.json()["detections"][0]["start"] == 3
    batch = api.post(
        "/api/v1/pii/scan",
        {"items": [{"id": "x", "text": EMAIL}, {"id": "y"}, "nope"]},
        format="json",
        **headers,
    ).json()["results"]
    assert [r["id"] for r in batch] == ["x", "y", None]
    assert batch[1]["error"]["code"] == "SCHEMA_INVALID" and batch[2]["error"]["code"] == "SCHEMA_INVALID"
    bad = api.post("/api/v1/pii/scan", {"items": []}, format="json", **headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "SCHEMA_INVALID"
    transformed = api.post(
        "/api/v1/pii/transform", {"text": f"to {EMAIL}", "tier": "ATTESTED"}, format="json", **headers
    ).json()
    assert transformed["text"] == "to [REDACTED:email]"
    no_tier = api.post("/api/v1/pii/transform", {"text": "x"}, format="json", **headers)
    assert no_tier.status_code == 400 and "tier" in no_tier.json()["error"]["message"]


# --- admin ----------------------------------------------------------------------------------------


def test_admin_edits_policies_in_the_grid_with_an_audit_event(client: Any, superuser: Any) -> None:
    client.force_login(superuser)
    url = "/admin/pii/piipolicy/"
    page = client.get(url)
    assert page.status_code == 200
    policies = list(PiiPolicy.objects.order_by("pii_type"))
    form = {
        "form-TOTAL_FORMS": str(len(policies)),
        "form-INITIAL_FORMS": str(len(policies)),
        "_save": "Save",
    }
    for index, policy in enumerate(policies):
        form[f"form-{index}-id"] = str(policy.pk)
        for name in ("threshold", "untrusted", "verified", "attested", "trusted", "privileged"):
            form[f"form-{index}-{name}"] = str(getattr(policy, name))
    email_index = [p.pii_type for p in policies].index("email")
    form[f"form-{email_index}-attested"] = "HASH"
    response = client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    assert PiiPolicy.objects.get(pii_type="email").attested == "HASH"
    event = AuditEvent.objects.get(action="pii.policy_changed")
    assert event.subject == "email" and event.details["changed"] == ["attested"]
    assert services.rules_for(TrustTier.ATTESTED)["email"].action == "HASH"  # no stale cache


def test_admin_review_flow_submits_scans_and_takes_verdicts(
    client: Any, superuser: Any, django_assert_max_num_queries: Any
) -> None:
    client.force_login(superuser)
    response = client.post("/admin/pii/reviewsample/add/", {"title": "t", "text": f"a {EMAIL} b"})
    assert response.status_code == 302
    sample = ReviewSample.objects.get()
    assert sample.findings.get().pii_type == "email"
    page = client.get(f"/admin/pii/reviewsample/{sample.pk}/change/")
    assert page.status_code == 200 and b"<mark" in page.content
    for _ in range(5):
        email_sample(3)
    with django_assert_max_num_queries(20):
        assert client.get("/admin/pii/reviewfinding/").status_code == 200
    finding = sample.findings.get()
    response = client.post(
        "/admin/pii/reviewfinding/",
        {"action": "mark_false_positive", "_selected_action": [str(finding.pk)]},
    )
    assert response.status_code == 302
    assert ReviewFinding.objects.get(pk=finding.pk).verdict == Verdict.FALSE_POSITIVE
    response = client.post(
        "/admin/pii/reviewfinding/add/", {"sample": sample.pk, "pii_type": "person_name", "start": 0, "end": 1}
    )
    assert response.status_code == 302
    assert ReviewFinding.objects.filter(verdict=Verdict.MISSED).count() == 1
    services.recompute_calibration()
    page = client.get("/admin/pii/calibration/")
    assert page.status_code == 200 and b"email" in page.content
    rows = list(Calibration.objects.values_list("pk", flat=True))
    response = client.post("/admin/pii/calibration/", {"action": "reset", "_selected_action": rows})
    assert response.status_code == 302
    assert not Calibration.objects.exclude(confirmed=0, false_positive=0, missed=0).exists()
