"""Two real nodes exchange tasks, results and memory over signed envelopes on mutual TLS."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.peering import RunningNode, new_node, pin_with_claims
from tests.test_e2e_node import wait_for

pytestmark = pytest.mark.e2e


def api(node: RunningNode, method: str, path: str, **kwargs: Any) -> httpx.Response:
    if "token" not in node.env:
        node.env["token"] = node.cli("token", "create", "--user", "admin", "--name", "agent")["token"]
    headers = {"Authorization": f"Bearer {node.env['token']}"}
    return httpx.request(method, f"{node.base}/api/v1/{path}", headers=headers, timeout=30, **kwargs)


def joined_pair(make_node_env: Any, tier: str = "ATTESTED") -> tuple[RunningNode, RunningNode]:
    a = new_node(make_node_env, "alpha").start()
    b = new_node(make_node_env, "beta").start()
    assert a.cli("join", b.base)["session"]["state"] == "active"
    for node, other in ((a, b), (b, a)):
        assert node.cli("trust", other.node_id, *pin_with_claims(tier, "test peers"))["trust_tier"] == tier
    return a, b


def test_task_assignment_result_and_memory_query_between_two_nodes(make_node_env: Any) -> None:
    a, b = joined_pair(make_node_env)
    try:
        sent = a.cli(
            "send", b.node_id, "--type", "task-assignment", "--payload", '{"task": "summarise", "doc": 7}',
            "--max-tokens", "1000", "--wait",
        )  # fmt: skip
        message = sent["messages"][0]
        assert message["state"] == "delivered", message
        inbox = b.cli("inbox", "--type", "task-assignment")["messages"]
        assert [m["id"] for m in inbox] == [message["id"]]
        assert inbox[0]["payload"] == {"task": "summarise", "doc": 7} and inbox[0]["peer"] == a.node_id

        # B's local agent answers through REST; the result lands in A's inbox with its spend.
        answered = api(
            b, "POST", f"inbox/{message['id']}/reply", json={"payload": {"summary": "ok"}, "spent_tokens": 120}
        )
        assert answered.status_code == 202, answered.text
        result = wait_for(
            lambda: api(a, "GET", f"inbox?reply_to={message['id']}").json()["results"], 30, "the task result on A"
        )[0]
        assert result["type"] == "task-result" and result["payload"] == {"summary": "ok"}
        assert result["budget"]["usedTokens"] == 120 and result["budget"]["maxTokens"] == 1000
        assert b.cli("inbox", "--status", "handled")["count"] == 1

        # Memory on B: A (ATTESTED there) sees public values, the rest redacted.
        for key, value, classification in (("plan", "go north", "public"), ("budget", "4 M", "confidential")):
            written = api(
                b,
                "POST",
                "memory",
                json={"namespace": "ops", "key": key, "value": value, "classification": classification},
            )
            assert written.status_code == 201, written.text
        answer = a.cli("query", b.node_id, "", "--namespace", "ops")["answer"]["payload"]
        values = {m["key"]: m["value"] for m in answer["matches"]}
        assert values == {"plan": "go north", "budget": "[REDACTED:confidential]"}

        # Pinned PRIVILEGED on B, A sees everything.
        b.cli("trust", a.node_id, *pin_with_claims("PRIVILEGED", "full sharing agreed"))
        got = a.cli("query", b.node_id, "budget")
        assert "answer" in got, (got, b.cli("outbox"), a.cli("outbox"))
        answer = got["answer"]["payload"]
        assert [(m["key"], m["value"]) for m in answer["matches"]] == [("budget", "4 M")]

        # Both trails tell the story.
        assert {e["details"]["id"] for e in a.audit("message.delivered")} >= {message["id"]}
        assert message["id"] in {e["details"]["id"] for e in b.audit("message.received")}
        assert [e for e in b.audit("memory.answered") if e["details"]["redacted"] == 1]
    finally:
        a.stop()
        b.stop()


def test_a_tier_that_does_not_allow_the_type_is_refused_on_both_sides(make_node_env: Any) -> None:
    a, b = joined_pair(make_node_env, tier="VERIFIED")
    try:
        refused = a.cli("send", b.node_id, "--type", "task-assignment", "--payload", "{}")
        assert refused["error"]["code"] == "NOT_PERMITTED"
        # A lets B receive tasks, but B still holds A at VERIFIED: B refuses, A records why.
        a.cli("trust", b.node_id, *pin_with_claims("ATTESTED", "we trust them"))
        sent = a.cli("send", b.node_id, "--type", "task-assignment", "--payload", "{}", "--wait")
        message = sent["messages"][0]
        assert message["state"] == "refused" and message["refusal"]["code"] == "NOT_PERMITTED"
        assert b.cli("inbox", "--type", "task-assignment")["count"] == 0
        assert [e for e in b.audit("message.refused") if e["details"]["reason"] == "NOT_PERMITTED"]
        assert [e for e in a.audit("message.refused") if e["details"]["id"] == message["id"]]
        assert a.cli("query", b.node_id, "anything")["error"]["code"] == "NOT_PERMITTED"  # at once, not at the timeout
        # ping is VERIFIED business.
        assert a.cli("send", b.node_id, "--type", "ping", "--payload", "{}", "--wait")["messages"][0]["state"] == (
            "delivered"
        )
        assert json.dumps(b.cli("inbox", "--type", "ping")["messages"][0]["payload"]) == "{}"
    finally:
        a.stop()
        b.stop()


def test_a_forwarded_task_carries_its_hop_chain_and_spend_across_three_nodes(make_node_env: Any) -> None:
    a = new_node(make_node_env, "alpha").start()
    b = new_node(make_node_env, "beta").start()
    c = new_node(make_node_env, "gamma").start()
    try:
        for left, right in ((a, b), (b, c)):
            assert left.cli("join", right.base)["session"]["state"] == "active"
            left.cli("trust", right.node_id, *pin_with_claims("ATTESTED", "test peers"))
            right.cli("trust", left.node_id, *pin_with_claims("ATTESTED", "test peers"))
        sent = a.cli(
            "send", b.node_id, "--payload", '{"task": "enrich"}', "--max-hops", "1", "--max-tokens", "100", "--wait"
        )["messages"][0]
        assert sent["state"] == "delivered", sent

        # B may pass it on once, spending 60 of the 100 tokens; C gets the chain and the spend.
        onward = b.cli("forward", sent["id"], c.node_id, "--spent-tokens", "60")
        assert onward["hops"] == [a.node_id, b.node_id]
        at_c = wait_for(lambda: c.cli("inbox", "--type", "task-assignment")["messages"], 30, "the forwarded task on C")[
            0
        ]
        assert (at_c["peer"], at_c["hops"], at_c["payload"]) == (b.node_id, [a.node_id, b.node_id], {"task": "enrich"})
        assert (at_c["budget"]["usedTokens"], at_c["budget"]["maxHops"]) == (60, 1)

        # C may not pass it further (maxHops 1 is used up), nor back to where it came from.
        assert c.cli("forward", at_c["id"], b.node_id)["error"]["code"] == "LOOP_DETECTED"
        assert [e for e in c.audit("message.send_refused") if e["details"]["reason"] == "LOOP_DETECTED"]
        # C answers B within the budget that is left; spending beyond it is refused.
        assert c.cli("reply", at_c["id"], "--payload", "{}", "--spent-tokens", "41")["error"]["code"] == (
            "BUDGET_EXCEEDED"
        )
        result = c.cli("reply", at_c["id"], "--payload", '{"ok": true}', "--spent-tokens", "40")
        assert result["type"] == "task-result" and result["budget"]["usedTokens"] == 100
        answer = wait_for(lambda: b.cli("inbox", "--type", "task-result")["messages"], 30, "the result on B")[0]
        assert answer["reply_to"] == at_c["id"] and answer["budget"]["usedTokens"] == 100
    finally:
        for node in (a, b, c):
            node.stop()
