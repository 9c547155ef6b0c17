"""Hostile envelopes against a real node over real mutual TLS.

An impostor completes a genuine handshake with one real node, so it holds a real session id and
session key, and then sends what an honest node never would: tampered, misaddressed, stale,
replayed, oversized, malformed and over-budget envelopes, and frames that are not envelopes at all.
Each must be refused with its reason code in the per-item answer (or an error frame for a frame
that cannot be read), be absent from the inbox, and leave a "message.refused" audit event; good
envelopes around them are stored exactly once, and the connection stays usable throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from federation import envelope as env
from federation import handshake
from federation.canonical import CanonicalJSONError
from federation.handshake import HandshakeError
from peers import client
from tests.conftest import node_environments
from tests.peering import Impostor, RunningNode, new_node, pin_with_claims

pytestmark = pytest.mark.e2e

OTHER_NODE = "f" * 64  # a node id that is neither the receiver's nor the impostor's
FRAME_ERROR_DETAILS = {"direction", "reason", "message", "client"}
# The receiver's stateful refusals (messaging.services), spelt out as the wire carries them.
REPLAYED, SEQUENCE_OUT_OF_WINDOW, NOT_PERMITTED = "REPLAYED", "SEQUENCE_OUT_OF_WINDOW", "NOT_PERMITTED"
UNKNOWN_SESSION, SESSION_EXPIRED, CERTIFICATE_MISMATCH = "UNKNOWN_SESSION", "SESSION_EXPIRED", "CERTIFICATE_MISMATCH"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Link:
    """The impostor's side of a real session with the node, and the bookkeeping of what it sent."""

    node: RunningNode
    impostor: Impostor
    session_id: str
    key: bytes
    token: str
    seqs: Iterator[int] = field(default_factory=lambda: itertools.count(10_000))
    stored: set[str] = field(default_factory=set)
    bad_macs: int = 0

    @property
    def me(self) -> str:
        return self.impostor.identity.node_id

    @property
    def url(self) -> str:
        return self.node.federation_url + "/envelopes"

    def seal(self, message_type: str = "ping", payload: Any = None, **fields: Any) -> dict[str, Any]:
        """A valid envelope from the impostor to the node on this session (fresh id, nonce, seq)."""
        arguments: dict[str, Any] = {
            "message_id": env.new_id(),
            "message_type": message_type,
            "source": self.me,
            "target": self.node.node_id,
            "session": self.session_id,
            "seq": next(self.seqs),
            "now_ms": now_ms(),
            "budget": env.make_budget(),
            "hops": [self.me],
            "payload": {"hello": "world"} if payload is None else payload,
        }
        return env.seal(self.key, **{**arguments, **fields})

    def resign(self, document: dict[str, Any], *, digest: bool = True) -> dict[str, Any]:
        """Recompute the payload digest and the MAC after editing a document: the MAC is valid,
        so whatever the node refuses it refuses for the edit, not for the signature."""
        document = dict(document)
        if digest:
            document["payload_digest"] = env.payload_digest(document["payload"])
        document["mac"] = env.mac_of(self.key, document)
        return document

    def exchange(self, *frames: Any, context: Any = None) -> list[dict[str, Any]]:
        """One connection, frames sent one by one, each answered before the next is sent. A list
        is sent as a batch frame of envelopes; a str as a text frame; bytes as a binary frame."""

        async def run() -> list[dict[str, Any]]:
            answers = []
            async with client.connect(self.url, context or self.impostor.context, None) as (socket, _):
                for frame in frames:
                    if isinstance(frame, list):
                        frame = json.dumps({"type": "envelopes", "items": frame})
                    await socket.send(frame)
                    answers.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
            return answers

        return asyncio.run(run())

    def post(self, *envelopes: Any, context: Any = None) -> list[dict[str, Any]]:
        """One batch; the per-envelope results, in order. Stored ids are remembered."""
        (answer,) = self.exchange(list(envelopes), context=context)
        assert answer["type"] == "acks", answer
        results = answer["results"]
        assert len(results) == len(envelopes)
        self.note(results)
        return results

    def note(self, results: list[dict[str, Any]]) -> None:
        self.stored |= {r["id"] for r in results if r["status"] == "stored"}
        self.bad_macs += sum(1 for r in results if r.get("code") == env.BAD_MAC)

    def inbox(self) -> list[str]:
        return [m["id"] for m in self.node.cli("inbox", "--limit", "500")["messages"]]

    def refusals(self, action: str = "message.refused") -> list[dict[str, Any]]:
        """The details of the node's audit events of one action, newest first. One API token for
        the module keeps this to a single HTTP request."""
        response = httpx.get(
            f"{self.node.base}/api/v1/audit/events?action={action}&limit=500",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return [event["details"] for event in response.json()["results"]]

    def assert_refused_and_audited(self, expected: dict[str, str]) -> None:
        """Each message id is absent from the inbox and audited as refused with its code."""
        inbox = self.inbox()
        audited = {(details.get("id"), details["reason"]) for details in self.refusals()}
        for message_id, code in expected.items():
            assert message_id not in inbox, f"{message_id} ({code}) was stored"
            assert (message_id, code) in audited, f"no message.refused event for {message_id} with reason {code}"


def codes(results: list[dict[str, Any]]) -> list[str]:
    return [r["code"] if r["status"] == "refused" else r["status"] for r in results]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with node_environments(tmp_path_factory.mktemp("receiver")) as make:
        running = new_node(make, "receiver", FEDERATION_HANDSHAKE_RATE_LIMIT="1000").start()
        yield running
        running.stop()


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> Impostor:
    return Impostor(tmp_path_factory.mktemp("impostor") / "home")


def real_session(node: RunningNode, impostor: Impostor) -> handshake.Initiator:
    initiator = impostor.initiator(node)
    answers = impostor.converse(node, [initiator.hello(), initiator.on_challenge])
    assert answers[-1]["type"] == "established", answers
    assert initiator.transcript is not None and initiator.mac_key is not None
    assert answers[-1]["session_id"] == initiator.transcript.session_id()
    return initiator


@pytest.fixture(scope="module")
def link(node: RunningNode, impostor: Impostor) -> Link:
    initiator = real_session(node, impostor)
    assert initiator.transcript is not None and initiator.mac_key is not None
    pinned = node.cli("trust", impostor.identity.node_id, *pin_with_claims("ATTESTED", "test"))
    assert pinned["trust_tier"] == "ATTESTED", pinned
    token = node.cli("token", "create", "--user", "admin", "--name", "hostile-messaging")["token"]
    return Link(node, impostor, initiator.transcript.session_id(), initiator.mac_key, token)


# --- the control case, replays and duplicates ---------------------------------------------------------


def test_good_envelope_is_stored_its_replay_refused_and_a_resend_is_a_duplicate(link: Link) -> None:
    good = link.seal("task-assignment", {"task": "summarise", "doc": 7})
    resent = link.seal("task-assignment", {"task": "summarise", "doc": 7}, message_id=good["id"])
    assert resent["nonce"] != good["nonce"] and resent["seq"] != good["seq"]
    # All three on one connection: it stays open after a refusal.
    first, replay, again = link.exchange([good], [good], [resent])
    for answer in (first, replay, again):
        link.note(answer["results"])
    assert first["results"] == [{"id": good["id"], "status": "stored"}]
    assert codes(replay["results"]) == [REPLAYED] and replay["results"][0]["id"] == good["id"]
    assert again["results"] == [{"id": good["id"], "status": "duplicate"}]  # idempotent: acknowledged, not stored
    assert link.inbox().count(good["id"]) == 1
    assert (good["id"], REPLAYED) in {(d.get("id"), d["reason"]) for d in link.refusals()}


def test_a_batch_replaying_its_own_nonce_or_sequence_stores_once(link: Link) -> None:
    first = link.seal()
    same_nonce = link.seal(nonce=first["nonce"])
    same_seq = link.seal(seq=first["seq"])
    same_id = link.seal(message_id=first["id"])
    results = link.post(first, same_nonce, same_seq, same_id)
    assert codes(results) == ["stored", REPLAYED, REPLAYED, "duplicate"]
    link.assert_refused_and_audited({same_nonce["id"]: REPLAYED, same_seq["id"]: REPLAYED})
    assert link.inbox().count(first["id"]) == 1


# --- envelopes the node refuses on their own merits, one table -----------------------------------------


def tampered_payload(link: Link) -> dict[str, Any]:
    document = link.seal("task-assignment", {"task": {"steps": {"first": {"limit": 10}}}})
    document["payload"]["task"]["steps"]["first"]["limit"] = 10_000  # four levels down, after sealing
    return document


def tampered_payload_with_its_digest(link: Link) -> dict[str, Any]:
    document = tampered_payload(link)
    document["payload_digest"] = env.payload_digest(document["payload"])  # the digest alone is no MAC
    return document


def tampered_budget(link: Link) -> dict[str, Any]:
    document = link.seal(budget=env.make_budget(max_tokens=100))
    document["budget"]["maxTokens"] = 1_000_000
    return document


def mac_under_another_key(link: Link) -> dict[str, Any]:
    document = link.seal()
    document["mac"] = env.mac_of(b"\0" * 32, document)
    return document


def wrong_digest(link: Link) -> dict[str, Any]:
    document = link.seal()
    document["payload_digest"] = env.payload_digest({"something": "else"})
    return link.resign(document, digest=False)


def edited(change: Callable[[Link, dict[str, Any]], None], **seal: Any) -> Callable[[Link], dict[str, Any]]:
    """An envelope edited after sealing and then signed again: a valid MAC over a bad document."""

    def build(link: Link) -> dict[str, Any]:
        document = link.seal(**seal)
        change(link, document)
        return link.resign(document)

    return build


def budget(**fields: Any) -> Callable[[Link, dict[str, Any]], None]:
    def change(link: Link, document: dict[str, Any]) -> None:
        document["budget"] = {**document["budget"], **fields}

    return change


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"down": value}
    return value


HOSTILE: dict[str, tuple[Callable[[Link], Any], str]] = {
    "payload tampered four levels deep": (tampered_payload, env.BAD_MAC),
    "payload tampered, digest recomputed": (tampered_payload_with_its_digest, env.BAD_MAC),
    "budget tampered": (tampered_budget, env.BAD_MAC),
    "MAC under another key": (mac_under_another_key, env.BAD_MAC),
    "payload digest wrong, MAC valid": (wrong_digest, env.DIGEST_MISMATCH),
    "wrong audience": (lambda link: link.seal(target=OTHER_NODE), env.WRONG_AUDIENCE),
    "expired": (lambda link: link.seal(now_ms=now_ms() - 10 * 60_000), env.EXPIRED),
    "just past the clock skew": (
        lambda link: link.seal(now_ms=now_ms() - 60_000, ttl_ms=20_000),  # exp 40 s ago > 30 s skew
        env.EXPIRED,
    ),
    "future dated": (lambda link: link.seal(now_ms=now_ms() + 10 * 60_000), env.FUTURE_DATED),
    "unknown session": (lambda link: link.seal(session="0" * 32), UNKNOWN_SESSION),
    "unknown type": (edited(lambda link, d: d.update(type="launch-missiles")), env.UNKNOWN_TYPE),
    "an unknown field": (edited(lambda link, d: d.update(extra=1)), env.SCHEMA),
    "not an object": (lambda link: ["an", "array"], env.SCHEMA),
    "payload nested 40 levels": (lambda link: link.seal(payload=deep(40)), env.TOO_DEEP),
    "maxHops 65": (edited(budget(maxHops=65)), env.INVALID_BUDGET),
    "negative maxTokens": (edited(budget(maxTokens=-1)), env.INVALID_BUDGET),
    "maxUsd not a number": (edited(budget(maxUsd="1")), env.INVALID_BUDGET),
    "maxUsd NaN": (
        lambda link: {**link.seal(), "budget": {**env.make_budget().as_json(), "maxUsd": float("nan")}},
        env.INVALID_BUDGET,
    ),
    "usedTokens over maxTokens": (edited(budget(maxTokens=100, usedTokens=101)), env.BUDGET_EXCEEDED),
    "usedUsd over maxUsd": (edited(budget(maxUsd=1, usedUsd=1.5)), env.BUDGET_EXCEEDED),
    "hops longer than maxHops + 1": (
        edited(lambda link, d: d.update(hops=["a" * 64, "b" * 64, link.me]), budget=env.make_budget(max_hops=1)),
        env.HOP_LIMIT_EXCEEDED,
    ),
    "hops through the receiver": (
        edited(lambda link, d: d.update(hops=[link.node.node_id, link.me])),
        env.LOOP_DETECTED,
    ),
    "hops visiting a node twice": (
        edited(lambda link, d: d.update(hops=[link.me, "a" * 64, link.me])),
        env.LOOP_DETECTED,
    ),
    # Canonical JSON (what the MAC covers) writes 1e20 as 21 digits: an envelope of more than 1 MiB
    # in a frame of well under 1 MiB.
    "canonical form over 1 MiB": (lambda link: link.seal(payload=[1e20] * 60_000), env.OVERSIZED),
}


@pytest.mark.parametrize(("build", "code"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_envelope_is_refused_with_its_reason(link: Link, build: Callable[[Link], Any], code: str) -> None:
    """Each hostile envelope is refused with its code, while the good one batched after it is stored."""
    hostile, good = build(link), link.seal()
    results = link.post(hostile, good)
    assert codes(results) == [code, "stored"], results[0]
    if isinstance(hostile, dict):
        assert results[0]["id"] == hostile["id"]
        link.assert_refused_and_audited({hostile["id"]: code})
    else:
        assert results[0]["id"] is None
        assert any(d["reason"] == code and d["id"] == "" for d in link.refusals())
    if code == env.BAD_MAC:  # a forged MAC drops the sender to UNTRUSTED at once, pin or not
        trust = link.node.cli("trust", link.me)
        assert (trust["trust_tier"], trust["held_for"], trust["pinned_tier"]) == ("UNTRUSTED", "HMAC_FAILURE", None)
        assert codes(link.post(link.seal("ping", {}))) == [NOT_PERMITTED]
        link.node.cli("peers", "reactivate", link.me, "--reason", "test: back to the control case")
        assert link.node.cli("trust", link.me, *pin_with_claims("ATTESTED", "test"))["trust_tier"] == "ATTESTED"


def test_a_lone_surrogate_in_the_payload_is_invalid_utf8(link: Link) -> None:
    """'\\udc80' is valid JSON syntax but not Unicode text; written as an escape, by hand."""
    document, good = link.seal(payload={"text": "PLACEHOLDER"}), link.seal()
    frame = json.dumps({"type": "envelopes", "items": [document, good]}).replace("PLACEHOLDER", "\\udc80")
    assert "\\udc80" in frame
    (answer,) = link.exchange(frame)
    link.note(answer["results"])
    assert codes(answer["results"]) == [env.INVALID_UTF8, "stored"]
    link.assert_refused_and_audited({document["id"]: env.INVALID_UTF8})


def test_an_envelope_over_one_mebibyte_is_refused_as_oversized(link: Link) -> None:
    """An envelope over FEDERATION_ENVELOPE_MAX_BYTES (1 MiB) in a frame well under the 8 MiB a
    batch frame may have (messaging.transport.MAX_BATCH_FRAME_BYTES) gets a per-item OVERSIZED."""
    big = link.seal(payload={"blob": "x" * (env.MAX_ENVELOPE_BYTES + 1024)})
    results = link.post(big)
    assert codes(results) == [env.OVERSIZED]
    link.assert_refused_and_audited({big["id"]: env.OVERSIZED})


# --- the session: sequence window, expiry, certificate ------------------------------------------------


def test_a_sequence_behind_the_window_is_refused_while_late_ones_within_it_are_stored(link: Link) -> None:
    ahead = link.seal()
    assert ahead["seq"] >= 10_000
    late = link.seal(seq=ahead["seq"] - 100)  # never used: a late arrival within the 4096 window
    behind = link.seal(seq=1)
    first, second = link.exchange([ahead], [late, behind])
    link.note(first["results"] + second["results"])
    assert codes(first["results"]) == ["stored"]
    assert codes(second["results"]) == ["stored", SEQUENCE_OUT_OF_WINDOW]
    link.assert_refused_and_audited({behind["id"]: SEQUENCE_OUT_OF_WINDOW})


def test_a_terminated_session_takes_no_envelopes(link: Link) -> None:
    initiator = real_session(link.node, link.impostor)
    assert initiator.transcript is not None and initiator.mac_key is not None
    session_id = initiator.transcript.session_id()
    fields = {"type": "session_terminate", "session_id": session_id, "sent_at": "2026-01-01T00:00:00Z"}
    terminate = {**fields, "mac": handshake.heartbeat_mac(initiator.mac_key, fields)}
    assert link.impostor.converse(link.node, [terminate])[-1]["type"] == "session_terminated"
    ended = Link(link.node, link.impostor, session_id, initiator.mac_key, link.token).seal()
    results = link.post(ended)
    assert codes(results) == [SESSION_EXPIRED]
    link.assert_refused_and_audited({ended["id"]: SESSION_EXPIRED})


def test_another_certificate_cannot_use_the_session(link: Link, tmp_path: Path) -> None:
    stolen = link.seal()
    results = link.post(stolen, context=link.impostor.ssl_context(other_certificate_dir=tmp_path))
    assert codes(results) == [CERTIFICATE_MISMATCH]
    link.assert_refused_and_audited({stolen["id"]: CERTIFICATE_MISMATCH})


def test_no_client_certificate_no_connection(link: Link) -> None:
    anonymous = link.seal()
    with pytest.raises(HandshakeError) as caught:
        link.post(anonymous, context=link.impostor.ssl_context(certificate=False))
    assert caught.value.code == "unreachable" and "403" in str(caught.value)
    assert anonymous["id"] not in link.inbox()
    assert any(d["reason"] == "no_client_certificate" for d in link.refusals("handshake.failed"))


# --- the tier ------------------------------------------------------------------------------------------


def test_a_verified_peer_may_ping_but_not_assign_tasks(link: Link) -> None:
    node, me = link.node, link.me
    assert node.cli("trust", me, *pin_with_claims("VERIFIED", "test"))["trust_tier"] == "VERIFIED"
    try:
        task, ping = link.seal("task-assignment", {"task": "x"}), link.seal("ping", {})
        assert codes(link.post(task, ping)) == [NOT_PERMITTED, "stored"]
        link.assert_refused_and_audited({task["id"]: NOT_PERMITTED})
    finally:
        assert node.cli("trust", me, *pin_with_claims("ATTESTED", "test"))["trust_tier"] == "ATTESTED"
    task = link.seal("task-assignment", {"task": "x"})
    assert codes(link.post(task)) == ["stored"]


# --- frames that are not batches of envelopes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param("{not json", env.MALFORMED, id="not JSON"),
        pytest.param(b'{"type": "envelopes", "items": ["\xff\xfe"]}', env.INVALID_UTF8, id="binary, not UTF-8"),
        pytest.param("[" * 100_000, env.TOO_DEEP, id="100000 brackets"),
        pytest.param('{"type": "envelopes", "items": []}', env.SCHEMA, id="empty batch"),
        pytest.param('{"type": "heartbeat", "items": [{}]}', env.SCHEMA, id="not a batch"),
    ],
)
def test_an_unreadable_frame_gets_an_error_and_the_connection_stays_open(
    link: Link, frame: str | bytes, code: str
) -> None:
    good = link.seal()
    before = sum(1 for d in link.refusals() if d["reason"] == code and set(d) == FRAME_ERROR_DETAILS)
    error, acks = link.exchange(frame, [good])
    link.note(acks["results"])
    assert error["type"] == "error" and error["code"] == code, error
    assert codes(acks["results"]) == ["stored"]
    after = sum(1 for d in link.refusals() if d["reason"] == code and set(d) == FRAME_ERROR_DETAILS)
    assert after == before + 1


def test_a_frame_over_any_batch_limit_ends_only_that_connection(link: Link) -> None:
    """Over the 8 MiB a batch frame may hold: an OVERSIZED error frame, or the server drops the
    connection before the consumer sees the frame. Either way nothing is stored and the next
    connection works."""
    try:
        (answer,) = link.exchange("x" * (9 * 1024 * 1024))
    except websockets.exceptions.ConnectionClosed:
        pass
    else:
        assert answer == {"type": "error", "code": env.OVERSIZED, "message": answer["message"]}
    assert codes(link.post(link.seal())) == ["stored"]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        pytest.param("id", "\udc80", env.INVALID_UTF8, id="surrogate in the id"),
        pytest.param("type", "\udc80", env.INVALID_UTF8, id="surrogate in the type"),
        pytest.param("source", "\udc80", env.INVALID_UTF8, id="surrogate in the source"),
        pytest.param("id", "a\u0000b", env.NUL_CHARACTER, id="NUL in the id, MAC valid"),
        pytest.param("id", "zürich", env.SCHEMA, id="non-ASCII id, MAC valid"),
        pytest.param("payload", {"text": "a\u0000b"}, env.NUL_CHARACTER, id="NUL in the payload, MAC valid"),
    ],
)
def test_hostile_text_in_an_identifying_field_is_refused_and_audited(
    link: Link, field: str, value: str, code: str | None
) -> None:
    """The refusal must still be answered and audited when the offending text is the very id,
    type or source that the audit event names. Sent alone, so a crash stores nothing unaccounted."""
    document = {**link.seal(), field: value}
    if field == "source":
        document["hops"] = [value]
    with contextlib.suppress(CanonicalJSONError):  # a lone surrogate cannot be signed: the MAC stays stale
        document = link.resign(document)
    before = len(link.refusals())
    (answer,) = link.exchange([document])  # json.dumps writes both as JSON escapes
    assert answer["type"] == "acks", answer
    link.note(answer["results"])
    assert [r["status"] for r in answer["results"]] == ["refused"]
    assert answer["results"][0]["code"] == code
    assert len(link.refusals()) == before + 1
    assert document["id"] not in link.inbox()


# --- the sum of it all -----------------------------------------------------------------------------------


def test_the_inbox_holds_exactly_what_was_stored_and_the_trail_verifies(link: Link) -> None:
    listed = link.node.cli("inbox", "--limit", "500")
    assert listed["count"] == len(link.stored)
    assert {m["id"] for m in listed["messages"]} == link.stored
    assert all(m["peer"] == link.me for m in listed["messages"])
    (peer,) = [p for p in link.node.peers() if p["node_id"] == link.me]
    (session,) = [s for s in peer["sessions"] if s["session_id"] == link.session_id]
    assert session["hmac_failures"] == link.bad_macs > 0
    assert link.node.cli("audit", "verify")["ok"]
