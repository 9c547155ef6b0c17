"""The PII pipeline on real traffic between two real nodes: each side screens with its own policy
for the other's tier, keyed hashes match across the pair, and blocks are refused where they arise."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.test_e2e_node import wait_for
from tests.test_messaging_e2e import joined_pair

pytestmark = pytest.mark.e2e

EMAIL = "marguerite.okafor@example.net"
CARD_SPACED, CARD_PLAIN = "4111 1111 1111 1111", "4111111111111111"
AWS_KEY_ID = "AKIA" + "QYLPMN2ZR7TXW4HB"


def send(node: Any, peer: str, payload: dict[str, Any]) -> dict[str, Any]:
    result = node.cli("send", peer, "--payload", json.dumps(payload), "--wait")
    assert "messages" in result, result
    return result


def last_inbox_payload(node: Any) -> Any:
    return node.cli("inbox", "--type", "task-assignment", "--limit", "1")["messages"][0]


def test_each_side_screens_with_its_own_policy_and_hashes_match_across_the_pair(make_node_env: Any) -> None:
    a, b = joined_pair(make_node_env, "TRUSTED")
    try:
        # A hashes the card for a TRUSTED peer; B, sending the same card written otherwise, gets
        # the same token: both derive the pair key from their identity keys.
        sent = send(a, b.node_id, {"card": CARD_SPACED})
        assert sent["messages"][0]["state"] == "delivered", sent
        at_b = last_inbox_payload(b)
        token = at_b["payload"]["card"]
        assert re.fullmatch(r"\[HASH:credit_card:[0-9a-f]{24}\]", token)
        assert at_b["sender_scan"] == {"credit_card": {"count": 1, "action": "HASH"}}
        assert send(b, a.node_id, {"card": CARD_PLAIN})["messages"][0]["state"] == "delivered"
        assert last_inbox_payload(a)["payload"]["card"] == token

        # A lets e-mail addresses through to B; B's own policy for A's tier still applies on receipt.
        assert a.cli("pii", "policy", "email", "--set", "TRUSTED=PASS")["actions"]["TRUSTED"] == "PASS"
        b.cli("pii", "policy", "email", "--set", "TRUSTED=REDACT")
        assert send(a, b.node_id, {"note": f"write to {EMAIL}"})["messages"][0]["state"] == "delivered"
        at_b = last_inbox_payload(b)
        assert at_b["payload"] == {"note": "write to [REDACTED:email]"}
        assert at_b["sender_scan"] == {"email": {"count": 1, "action": "PASS"}}
        assert at_b["pii_scan"] == {"email": {"count": 1, "action": "REDACT"}}

        # B blocks what A would pass: refused by B, and A's outbox says why.
        b.cli("pii", "policy", "email", "--set", "TRUSTED=BLOCK")
        refused = send(a, b.node_id, {"note": f"again {EMAIL}"})["messages"][0]
        assert refused["state"] == "refused" and refused["refusal"]["code"] == "PII_BLOCKED", refused
        assert "email" in refused["refusal"]["message"]
        assert wait_for(lambda: b.audit("message.refused"), 10, "B's refusal event")[0]["details"]["reason"] == (
            "PII_BLOCKED"
        )

        # Secrets never leave: A refuses before anything is queued.
        before = a.cli("outbox")["count"]
        blocked = a.cli("send", b.node_id, "--payload", json.dumps({"creds": f"aws_access_key_id={AWS_KEY_ID}"}))
        assert blocked["error"]["code"] == "PII_BLOCKED" and "aws_key" in blocked["error"]["message"]
        assert a.cli("outbox")["count"] == before

        # Neither trail holds a value.
        for node in (a, b):
            trail = json.dumps(node.audit("message.received") + node.audit("message.send_refused"))
            assert EMAIL not in trail and CARD_PLAIN not in trail and AWS_KEY_ID not in trail
    finally:
        a.stop()
        b.stop()
