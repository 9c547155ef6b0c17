"""Nothing lost, nothing doubled: 1,000 messages while the receiver and the sender's worker die."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.peering import SplitNode, free_node_port, kill_hard, new_node, pin_with_claims
from tests.test_e2e_node import federation, wait_for

pytestmark = pytest.mark.e2e
TOTAL = 1000
TASK = "task-assignment"  # the trust notices (claims granted, pins) travel on the same outbox


def test_every_message_arrives_exactly_once_through_kills_and_restarts(make_node_env: Any) -> None:
    # The sender runs as separate web / worker / beat processes, so its worker can die alone.
    env = {**make_node_env("sender"), "FEDERATION_ADMIN_PASSWORD": "a-test-admin-password"}
    port = free_node_port()
    assert federation("init", "--display-name", "sender", "--port", str(port), env=env).returncode == 0
    a = SplitNode(env=env, port=port).start()
    b = new_node(make_node_env, "receiver").start()
    try:
        assert a.cli("join", b.base)["session"]["state"] == "active"
        a.cli("trust", b.node_id, *pin_with_claims("ATTESTED", "test"))
        b.cli("trust", a.node_id, *pin_with_claims("ATTESTED", "test"))
        token = a.cli("token", "create", "--user", "admin", "--name", "load")["token"]
        sent: list[str] = []
        errors: list[str] = []

        def produce() -> None:
            with httpx.Client(base_url=f"{a.base}/api/v1", headers={"Authorization": f"Bearer {token}"}) as http:
                for number in range(TOTAL):
                    body = {"peer": b.node_id, "type": "task-assignment", "payload": {"n": number}}
                    response = http.post("/messages", json=body, timeout=30)
                    if response.status_code != 202:
                        errors.append(response.text)
                        return
                    sent.append(response.json()["messages"][0]["id"])
                    time.sleep(0.004)

        producer = threading.Thread(target=produce)
        producer.start()
        wait_for(lambda: len(sent) >= 200, 60, "200 messages queued")
        kill_hard(b)  # the receiver dies mid-stream...
        wait_for(lambda: len(sent) >= 400, 60, "400 messages queued")
        a.kill_part("worker")  # ...and so does the sender's worker, leases and all
        wait_for(lambda: len(sent) >= 550, 60, "550 messages queued")
        b.start()
        wait_for(lambda: len(sent) >= 700, 60, "700 messages queued")
        a.start_part("worker")
        producer.join(timeout=120)
        assert not errors and len(sent) == TOTAL

        def all_delivered() -> bool:
            return a.cli("outbox", "--state", "delivered", "--type", TASK, "--limit", "0")["count"] == TOTAL

        wait_for(all_delivered, 240, "every message delivered")
        assert a.cli("outbox", "--state", "queued", "--limit", "0")["count"] == 0  # notices too

        received = Counter()
        inbox = b.cli("inbox", "--type", TASK, "--limit", str(TOTAL * 2))
        assert inbox["count"] == TOTAL
        for message in inbox["messages"]:
            received[message["payload"]["n"]] += 1
        assert set(received) == set(range(TOTAL)) and set(received.values()) == {1}
        assert {m["id"] for m in inbox["messages"]} == set(sent)
        # Retries happened (the receiver was down), and each stored message was audited once.
        assert any(
            m["attempts"] > 1
            for m in a.cli("outbox", "--state", "delivered", "--type", TASK, "--limit", str(TOTAL))["messages"]
        )
        assert b.cli("audit", "verify")["ok"] is True and a.cli("audit", "verify")["ok"] is True
    finally:
        a.stop()
        if b.proc is not None:
            b.stop()
