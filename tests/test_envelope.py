"""Envelopes (docs/PROTOCOL.md §7) through the public functions of federation.envelope.

Pure: no database, no network. Every refusal is asserted by its exact reason code.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from federation import envelope as env
from federation.canonical import canonical_json

VECTOR = json.loads((Path(__file__).parent / "vectors" / "envelope-v1.json").read_text(encoding="utf-8"))

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
ORIGIN = "o" * 32
SOURCE = "s" * 32
TARGET = "t" * 32
SKEW = env.CLOCK_SKEW_MS
PAYLOAD = {"task": "sum", "args": {"numbers": [1, 2, {"deep": {"deeper": "Zürich"}}]}, "n": 1}


def sealed(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "message_id": "m-1",
        "message_type": "task-assignment",
        "source": SOURCE,
        "target": TARGET,
        "session": "session-1",
        "seq": 7,
        "now_ms": NOW,
        "budget": env.make_budget(max_hops=8, max_tokens=1000, max_usd=2),
        "hops": [SOURCE],
        "payload": copy.deepcopy(PAYLOAD),
        "reply_to": None,
        "nonce": "nonce-1",
    }
    arguments.update(overrides)
    key = arguments.pop("key", KEY)
    return env.seal(key, **arguments)


def open_(document: Any, *, key: bytes = KEY, audience: str = TARGET, now_ms: int = NOW, **kwargs: Any) -> env.Envelope:
    return env.open_envelope(document, key_for=lambda _envelope: key, audience=audience, now_ms=now_ms, **kwargs)


def refused(code: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> env.EnvelopeError:
    with pytest.raises(env.EnvelopeError) as caught:
        function(*args, **kwargs)
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"
    return caught.value


def budget_json(**members: Any) -> dict[str, Any]:
    return {"maxHops": 8, "maxTokens": None, "maxUsd": None, "usedTokens": 0, "usedUsd": 0, **members}


# --- the happy path ------------------------------------------------------------------------------


def test_a_sealed_envelope_opens_after_a_trip_over_the_wire() -> None:
    document = sealed()
    assert set(document) == set(env.FIELDS)
    opened = open_(env.loads(json.dumps(document).encode()))
    assert (opened.id, opened.type, opened.source, opened.session, opened.seq) == (
        "m-1",
        "task-assignment",
        SOURCE,
        "session-1",
        7,
    )
    assert opened.hops == [SOURCE]
    assert opened.document["payload"] == PAYLOAD
    assert opened.budget == env.make_budget(max_hops=8, max_tokens=1000, max_usd=2)
    assert opened.document["exp"] - opened.document["ts"] == env.DEFAULT_TTL_MS


def test_seal_draws_a_fresh_nonce_each_time() -> None:
    first, second = sealed(nonce=None), sealed(nonce=None)
    assert first["nonce"] != second["nonce"]
    assert first["mac"] != second["mac"]
    assert len(first["nonce"]) == 22 and "=" not in first["nonce"]  # 16 random bytes, base64url
    open_(first)
    open_(second)


def test_payload_digest_is_sha256_of_the_canonical_payload_whatever_the_key_order() -> None:
    digest = env.payload_digest({"b": [1, "ü"], "a": {"y": 1, "x": 2}})
    assert digest == env.payload_digest({"a": {"x": 2, "y": 1}, "b": [1, "ü"]})
    assert digest == "sha256:" + hashlib.sha256('{"a":{"x":2,"y":1},"b":[1,"ü"]}'.encode()).hexdigest()
    assert digest != env.payload_digest({"a": {"x": 2, "y": 1}, "b": [1, "u"]})


# --- integrity: the MAC covers every field, nested values included ---------------------------------


def _set_nested(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


# (path into the envelope, replacement that keeps the envelope schema-valid, audience to open with)
SCHEMA_VALID_TAMPERING = [
    (("id",), "m-2", TARGET),
    (("type",), "status", TARGET),
    (("target",), "x" * 32, "x" * 32),  # redirected to another node, which checks the MAC
    (("session",), "session-2", TARGET),
    (("seq",), 8, TARGET),
    (("ts",), NOW - 1000, TARGET),
    (("exp",), NOW + env.DEFAULT_TTL_MS + 1000, TARGET),
    (("nonce",), "nonce-2", TARGET),
    (("budget",), budget_json(maxHops=64), TARGET),
    (("hops",), [ORIGIN, SOURCE], TARGET),
    (("reply_to",), "m-0", TARGET),
    (("payload",), {"task": "sum"}, TARGET),
    (("payload_digest",), "sha256:" + "0" * 64, TARGET),
    (("payload", "args", "numbers", 2, "deep", "deeper"), "Zurich", TARGET),
    (("payload", "args", "numbers", 2, "deep"), {"deeper": "Zürich", "more": 1}, TARGET),
    (("payload", "args", "numbers", 0), "1", TARGET),
    (("payload", "n"), 2, TARGET),
    (("budget", "maxHops"), 9, TARGET),
    (("budget", "maxTokens"), 100_000, TARGET),
    (("budget", "maxTokens"), None, TARGET),
    (("budget", "maxUsd"), 3, TARGET),
    (("budget", "maxUsd"), 2.5, TARGET),
    (("budget", "usedTokens"), 5, TARGET),
    (("budget", "usedUsd"), 0.5, TARGET),
]


def test_the_tampering_table_touches_every_field_but_the_mac() -> None:
    touched = {path[0] for path, _, _ in SCHEMA_VALID_TAMPERING} | {"v", "source"}  # those two: below
    assert touched == set(env.FIELDS) - {"mac"}
    assert {path[1] for path, _, _ in SCHEMA_VALID_TAMPERING if path[0] == "budget" and len(path) > 1} == set(
        env.BUDGET_FIELDS
    )


@pytest.mark.parametrize(("path", "value", "audience"), SCHEMA_VALID_TAMPERING, ids=lambda p: repr(p)[:40])
def test_tampering_with_any_field_is_a_bad_mac(path: tuple[Any, ...], value: Any, audience: str) -> None:
    document = sealed()
    open_(copy.deepcopy(document))  # untouched, it opens
    _set_nested(document, path, value)
    env.check_schema(document)  # still well-formed: only the MAC can catch it
    refused(env.BAD_MAC, open_, document, audience=audience)


@pytest.mark.parametrize(
    ("field", "value"),
    [("v", 2), ("source", "x" * 32)],  # alone, these break the schema (the last hop must be the source)
)
def test_fields_the_schema_ties_down_are_refused_before_the_mac(field: str, value: Any) -> None:
    document = sealed()
    document[field] = value
    refused(env.SCHEMA, open_, document)


@pytest.mark.parametrize("field", [name for name in env.FIELDS if name != "mac"])
def test_verify_mac_alone_covers_every_field(field: str) -> None:
    """Bypasses the schema, so even `v` and `source` are shown to be inside the MAC."""
    document = sealed()
    envelope = env.Envelope(document, env.parse_budget(document["budget"]))
    env.verify_mac(KEY, envelope)
    changed = {"v": 2, "seq": 8, "ts": NOW + 1, "exp": NOW + 1, "budget": budget_json(), "hops": [ORIGIN]}
    document[field] = changed.get(field, None if isinstance(document[field], str) else "x")
    refused(env.BAD_MAC, env.verify_mac, KEY, envelope)


def test_a_source_rewritten_together_with_the_last_hop_is_a_bad_mac() -> None:
    document = sealed()
    document["source"] = document["hops"][-1] = "x" * 32
    refused(env.BAD_MAC, open_, document)


def test_the_wrong_key_is_a_bad_mac() -> None:
    refused(env.BAD_MAC, open_, sealed(), key=OTHER_KEY)
    refused(env.BAD_MAC, open_, sealed(key=OTHER_KEY))
    open_(sealed(key=OTHER_KEY), key=OTHER_KEY)


def test_a_mac_that_is_not_lowercase_hex_is_refused_before_any_comparison() -> None:
    document = sealed()
    document["mac"] = document["mac"].upper()
    refused(env.SCHEMA, open_, document)
    document["mac"] = "z" * 64
    refused(env.SCHEMA, open_, document)


def test_a_payload_digest_that_does_not_match_the_payload_is_refused_even_under_a_valid_mac() -> None:
    document = sealed()
    document["payload_digest"] = env.payload_digest({"something": "else"})
    document["mac"] = env.mac_of(KEY, document)  # signed by the key holder: a buggy or lying sender
    refused(env.DIGEST_MISMATCH, open_, document)


def test_representations_with_the_same_canonical_form_verify() -> None:
    """RFC 8785 is what is signed: member order and number spelling on the wire do not matter."""
    document = sealed(payload={"z": 1, "a": [1, 2.5]})
    reordered = json.loads(json.dumps(document, sort_keys=True).replace('"z": 1', '"z": 1.0'))
    assert reordered["payload"]["z"] == 1.0 and isinstance(reordered["payload"]["z"], float)
    open_(reordered)


# --- audience and time -------------------------------------------------------------------------------


def test_an_envelope_for_another_node_is_wrong_audience() -> None:
    refused(env.WRONG_AUDIENCE, open_, sealed(), audience="x" * 32)


def test_audience_is_checked_before_the_session_key_is_looked_up() -> None:
    def no_key(_envelope: env.Envelope) -> bytes:
        raise env.EnvelopeError("UNKNOWN_SESSION", "no such session")

    refused(env.WRONG_AUDIENCE, env.open_envelope, sealed(), key_for=no_key, audience="x" * 32, now_ms=NOW)
    refused("UNKNOWN_SESSION", env.open_envelope, sealed(), key_for=no_key, audience=TARGET, now_ms=NOW)


def test_expiry_allows_the_clock_skew_and_no_more() -> None:
    document = sealed(ttl_ms=60_000)
    expires = NOW + 60_000
    open_(document, now_ms=expires + SKEW)
    refused(env.EXPIRED, open_, document, now_ms=expires + SKEW + 1)
    refused(env.EXPIRED, open_, document, now_ms=expires + 3_600_000)


def test_future_dated_beyond_the_skew_is_refused() -> None:
    open_(sealed(now_ms=NOW + SKEW))
    refused(env.FUTURE_DATED, open_, sealed(now_ms=NOW + SKEW + 1))
    refused(env.FUTURE_DATED, open_, sealed(now_ms=NOW + 86_400_000))


def test_a_bad_mac_is_reported_before_the_clock() -> None:
    document = sealed(now_ms=NOW - 86_400_000)
    refused(env.EXPIRED, open_, document)
    refused(env.BAD_MAC, open_, document, key=OTHER_KEY)


@pytest.mark.parametrize("ttl_ms", [0, -1, env.MAX_TTL_MS + 1])
def test_exp_not_after_ts_or_too_far_after_is_schema_invalid(ttl_ms: int) -> None:
    refused(env.SCHEMA, open_, sealed(ttl_ms=ttl_ms))


def test_the_longest_ttl_is_accepted() -> None:
    document = sealed(ttl_ms=env.MAX_TTL_MS)
    open_(document)
    refused(env.SCHEMA, env.check_time, env.check_schema(sealed(ttl_ms=env.MAX_TTL_MS + 1)), now_ms=NOW)


# --- schema ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", env.FIELDS)
def test_a_missing_field_is_schema_invalid(field: str) -> None:
    document = sealed()
    del document[field]
    refused(env.SCHEMA, env.check_schema, document)


def test_an_extra_field_is_schema_invalid_even_under_a_valid_mac() -> None:
    document = sealed()
    document["priority"] = "high"
    document["mac"] = env.mac_of(KEY, document)
    refused(env.SCHEMA, open_, document)


@pytest.mark.parametrize("document", [None, [], "envelope", 1, True])
def test_an_envelope_must_be_an_object(document: Any) -> None:
    refused(env.SCHEMA, env.check_schema, document)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("v", "1"),
        ("v", True),
        ("v", 1.0),
        ("v", 0),
        ("id", 5),
        ("id", ""),
        ("id", "x" * 129),
        ("source", None),
        ("target", ["t"]),
        ("session", {"id": "s"}),
        ("nonce", 123),
        ("seq", -1),
        ("seq", True),
        ("seq", 1.5),
        ("seq", 7.0),
        ("seq", "7"),
        ("seq", 2**63),
        ("ts", None),
        ("ts", "2026-01-01T00:00:00Z"),
        ("exp", False),
        ("reply_to", 5),
        ("reply_to", ""),
        ("hops", []),
        ("hops", SOURCE),
        ("hops", [ORIGIN, 5, SOURCE]),
        ("hops", ["", SOURCE]),
        ("hops", [SOURCE, ORIGIN]),  # the last hop must be the source
        ("hops", [f"n{i}" for i in range(env.MAX_HOPS_CEILING + 1)] + [SOURCE]),
        ("payload_digest", None),
        ("mac", None),
        ("mac", "ab"),
        ("mac", "a" * 65),
    ],
)
def test_wrong_types_and_shapes_are_schema_invalid(field: str, value: Any) -> None:
    document = sealed()
    document[field] = value
    refused(env.SCHEMA, env.check_schema, document)


def test_the_longest_hop_chain_and_longest_ids_pass_the_schema() -> None:
    document = sealed(
        hops=[f"n{i}" for i in range(env.MAX_HOPS_CEILING)] + [SOURCE],
        message_id="x" * 128,
        budget=env.make_budget(max_hops=env.MAX_HOPS_CEILING),
    )
    open_(document)


@pytest.mark.parametrize("message_type", ["pong", "", "PING", 5, None, ["ping"]])
def test_an_unknown_message_type_is_refused(message_type: Any) -> None:
    document = sealed()
    document["type"] = message_type
    refused(env.UNKNOWN_TYPE, env.check_schema, document)


def test_every_known_message_type_opens() -> None:
    assert len(env.MESSAGE_TYPES) == 15
    for message_type in sorted(env.MESSAGE_TYPES):
        assert open_(sealed(message_type=message_type)).type == message_type


def test_a_bad_budget_inside_an_envelope_is_invalid_budget() -> None:
    document = sealed()
    document["budget"] = "unlimited"
    refused(env.INVALID_BUDGET, env.check_schema, document)


# --- parsing raw input ---------------------------------------------------------------------------------


def test_oversize_raw_input_is_refused_before_parsing() -> None:
    raw = json.dumps(sealed()).encode()
    env.loads(raw, max_bytes=len(raw))
    refused(env.OVERSIZED, env.loads, raw, max_bytes=len(raw) - 1)
    refused(env.OVERSIZED, env.loads, b"[" * (env.MAX_ENVELOPE_BYTES + 1))  # not even looked at


def test_an_oversize_envelope_is_refused_by_verify_mac_and_open() -> None:
    document = sealed(payload={"blob": "x" * 4000})
    size = len(rfc8785.dumps({k: v for k, v in document.items() if k != "mac"}))
    open_(document, max_bytes=size)
    refused(env.OVERSIZED, open_, document, max_bytes=size - 1)
    refused(env.OVERSIZED, env.verify_mac, KEY, env.check_schema(document), max_bytes=1024)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload": "\xff"}',
        b'{"payload": "\xc3"}',  # truncated sequence
        b'{"payload": "\xed\xb2\x80"}',  # an encoded surrogate is not UTF-8
        b'{"\xc0\xaf": 1}',  # overlong
    ],
)
def test_invalid_utf8_bytes_are_refused(raw: bytes) -> None:
    refused(env.INVALID_UTF8, env.loads, raw)


@pytest.mark.parametrize("where", ["value", "key", "hop"])
def test_a_lone_surrogate_escape_is_invalid_utf8(where: str) -> None:
    document = sealed()
    if where == "value":
        document["payload"] = {"a": {"b": ["\udc80"]}}
    elif where == "key":
        document["payload"] = {"a\udc80": 1}
    else:
        document["hops"] = ["\ud800", SOURCE]
    raw = json.dumps(document)  # ensure_ascii: written as the escape \udc80 / \ud800
    assert "\\ud" in raw
    parsed = env.loads(raw.encode())
    refused(env.INVALID_UTF8, env.check_schema, parsed)
    refused(env.INVALID_UTF8, open_, parsed)


def test_a_surrogate_pair_escape_is_fine() -> None:
    document = sealed(payload={"emoji": "😀"})
    parsed = env.loads(json.dumps(document).encode())  # written as \ud83d\ude00
    assert open_(parsed).document["payload"] == {"emoji": "😀"}


def _nested_list(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_too_deep() -> None:
    assert env.loads(json.dumps(_nested_list(env.MAX_DEPTH))) == _nested_list(env.MAX_DEPTH)
    refused(env.TOO_DEEP, env.loads, json.dumps(_nested_list(env.MAX_DEPTH + 1)))


def test_an_envelope_with_a_payload_nested_40_levels_is_too_deep() -> None:
    raw = json.dumps(sealed(payload=_nested_list(40))).encode()
    refused(env.TOO_DEEP, env.loads, raw)
    refused(env.TOO_DEEP, env.check_depth, json.loads(raw))


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}"), ('{"p":[', "]}")])
def test_100000_levels_of_raw_text_are_too_deep_without_crashing(opening: str, closing: str) -> None:
    raw = opening * 100_000 + "1" + closing * 100_000
    refused(env.TOO_DEEP, env.loads, raw)
    refused(env.TOO_DEEP, env.loads, raw.encode())


def test_check_depth_is_iterative_on_a_100000_level_structure() -> None:
    refused(env.TOO_DEEP, env.check_depth, _nested_list(100_000))
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100_000):
        cursor["a"] = {}
        cursor = cursor["a"]
    refused(env.TOO_DEEP, env.check_depth, deep)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1,]", b"{'a': 1}", b'{"a" 1}', b"01", b"nul", b"[1] [2]", b"\x00", b'"unterminated'],
)
def test_malformed_json_is_refused(raw: bytes) -> None:
    refused(env.MALFORMED, env.loads, raw)
    refused(env.MALFORMED, env.loads, raw.decode())


def test_nan_outside_the_budget_cannot_be_canonicalised() -> None:
    text = json.dumps(sealed()).replace('"n": 1', '"n": NaN')
    document = env.loads(text)
    refused(env.MALFORMED, open_, document)


# --- budgets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"maxHops": 8, "maxTokens": null, "maxUsd": NaN, "usedTokens": 0, "usedUsd": 0}',
        '{"maxHops": 8, "maxTokens": null, "maxUsd": null, "usedTokens": 0, "usedUsd": NaN}',
        '{"maxHops": 8, "maxTokens": null, "maxUsd": Infinity, "usedTokens": 0, "usedUsd": 0}',
        '{"maxHops": 8, "maxTokens": null, "maxUsd": null, "usedTokens": 0, "usedUsd": -Infinity}',
        '{"maxHops": NaN, "maxTokens": null, "maxUsd": null, "usedTokens": 0, "usedUsd": 0}',
        '{"maxHops": Infinity, "maxTokens": null, "maxUsd": null, "usedTokens": 0, "usedUsd": 0}',
        '{"maxHops": 8, "maxTokens": NaN, "maxUsd": null, "usedTokens": 0, "usedUsd": 0}',
        '{"maxHops": 8, "maxTokens": null, "maxUsd": 1e400, "usedTokens": 0, "usedUsd": 0}',
    ],
)
def test_non_finite_budget_numbers_off_the_wire_are_invalid_budget(raw: str) -> None:
    refused(env.INVALID_BUDGET, env.parse_budget, env.loads(raw))


def test_nan_in_an_envelopes_budget_reaches_the_budget_check() -> None:
    text = json.dumps(sealed()).replace('"maxUsd": 2', '"maxUsd": NaN')
    assert "NaN" in text
    refused(env.INVALID_BUDGET, open_, env.loads(text))


@pytest.mark.parametrize(
    "members",
    [
        {"maxHops": -1},
        {"maxHops": 65},
        {"maxHops": 1.5},
        {"maxHops": 8.0},
        {"maxHops": True},
        {"maxHops": "8"},
        {"maxHops": None},
        {"maxTokens": -1},
        {"maxTokens": 1.5},
        {"maxTokens": True},
        {"maxTokens": "100"},
        {"maxUsd": -0.01},
        {"maxUsd": True},
        {"maxUsd": "1.5"},
        {"maxUsd": [1]},
        {"usedTokens": -1},
        {"usedTokens": None},
        {"usedTokens": 2.0},
        {"usedUsd": None},
        {"usedUsd": -1},
        {"usedUsd": False},
    ],
)
def test_out_of_range_or_mistyped_budget_members_are_invalid_budget(members: dict[str, Any]) -> None:
    env.parse_budget(budget_json())  # the base is fine
    refused(env.INVALID_BUDGET, env.parse_budget, budget_json(**members))


@pytest.mark.parametrize("value", [None, [], "budget", 8])
def test_a_budget_must_be_an_object(value: Any) -> None:
    refused(env.INVALID_BUDGET, env.parse_budget, value)


@pytest.mark.parametrize("member", env.BUDGET_FIELDS)
def test_a_missing_budget_member_is_invalid_budget(member: str) -> None:
    budget = budget_json()
    del budget[member]
    refused(env.INVALID_BUDGET, env.parse_budget, budget)


def test_an_extra_budget_member_is_invalid_budget() -> None:
    refused(env.INVALID_BUDGET, env.parse_budget, budget_json(maxSeconds=10))


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"max_hops": 65}, env.INVALID_BUDGET),
        ({"max_hops": -1}, env.INVALID_BUDGET),
        ({"max_hops": 2.0}, env.INVALID_BUDGET),
        ({"max_tokens": -5}, env.INVALID_BUDGET),
        ({"max_usd": float("nan")}, env.INVALID_BUDGET),
        ({"max_usd": float("inf")}, env.INVALID_BUDGET),
        ({"max_usd": Decimal("NaN")}, env.INVALID_BUDGET),
        ({"max_usd": -1}, env.INVALID_BUDGET),
    ],
)
def test_make_budget_refuses_what_parse_budget_refuses(arguments: dict[str, Any], code: str) -> None:
    refused(code, env.make_budget, **arguments)


def test_budget_bounds_and_json_form() -> None:
    assert env.make_budget().as_json() == budget_json(maxHops=env.DEFAULT_MAX_HOPS)
    assert env.make_budget(max_hops=0).max_hops == 0
    assert env.make_budget(max_hops=64).max_hops == 64
    budget = env.make_budget(max_tokens=10, max_usd=1.5)
    assert budget.max_usd == Decimal("1.5")
    assert budget.as_json() == {"maxHops": 8, "maxTokens": 10, "maxUsd": 1.5, "usedTokens": 0, "usedUsd": 0}
    assert env.parse_budget(budget.as_json()) == budget


def test_max_hops_zero_allows_a_direct_message_but_no_forward() -> None:
    budget = env.make_budget(max_hops=0)
    env.check_route(budget, [SOURCE], here=TARGET)
    refused(env.HOP_LIMIT_EXCEEDED, env.check_route, budget, [ORIGIN, SOURCE], here=TARGET)
    open_(sealed(budget=budget))
    refused(env.HOP_LIMIT_EXCEEDED, open_, sealed(budget=budget, hops=[ORIGIN, SOURCE]))


def test_max_hops_counts_forwards() -> None:
    budget = env.make_budget(max_hops=2)
    env.check_route(budget, ["a", "b", SOURCE], here=TARGET)
    refused(env.HOP_LIMIT_EXCEEDED, env.check_route, budget, ["a", "b", "c", SOURCE], here=TARGET)


def test_a_message_that_already_passed_through_here_is_a_loop() -> None:
    budget = env.make_budget()
    refused(env.LOOP_DETECTED, env.check_route, budget, [TARGET, SOURCE], here=TARGET)
    refused(env.LOOP_DETECTED, env.check_route, budget, [ORIGIN, TARGET, SOURCE], here=TARGET)
    refused(env.LOOP_DETECTED, open_, sealed(hops=[TARGET, SOURCE]))


def test_a_hop_chain_that_visits_a_node_twice_is_a_loop() -> None:
    budget = env.make_budget()
    refused(env.LOOP_DETECTED, env.check_route, budget, [ORIGIN, "m", ORIGIN, SOURCE], here=TARGET)
    refused(env.LOOP_DETECTED, env.check_route, budget, [SOURCE, SOURCE], here=TARGET)
    refused(env.LOOP_DETECTED, open_, sealed(hops=[ORIGIN, SOURCE, ORIGIN, SOURCE]))


def test_a_loop_is_reported_even_when_hops_are_also_exhausted() -> None:
    refused(env.LOOP_DETECTED, env.check_route, env.make_budget(max_hops=0), [TARGET, SOURCE], here=TARGET)


@pytest.mark.parametrize(
    ("members", "ok"),
    [
        ({"maxTokens": 10, "usedTokens": 10}, True),
        ({"maxTokens": 10, "usedTokens": 11}, False),
        ({"maxTokens": 0, "usedTokens": 1}, False),
        ({"maxUsd": 0.3, "usedUsd": 0.3}, True),
        ({"maxUsd": 0.3, "usedUsd": 0.30000000000000004}, False),
        ({"maxUsd": 1, "usedUsd": 1.01}, False),
        ({"maxUsd": 0, "usedUsd": 0.0001}, False),
        ({"maxTokens": None, "maxUsd": None, "usedTokens": 10**12, "usedUsd": 10**6}, True),
    ],
)
def test_spend_beyond_a_limit_is_budget_exceeded(members: dict[str, Any], ok: bool) -> None:
    budget = env.parse_budget(budget_json(**members))  # parsing alone does not judge the spend
    if ok:
        env.check_route(budget, [SOURCE], here=TARGET)
        open_(sealed(budget=budget))
    else:
        refused(env.BUDGET_EXCEEDED, env.check_route, budget, [SOURCE], here=TARGET)
        refused(env.BUDGET_EXCEEDED, open_, sealed(budget=budget))


def test_spend_accumulates_exactly_in_decimal() -> None:
    start = env.make_budget(max_tokens=100, max_usd=0.3)
    after = start.spend(tokens=40, usd=0.1).spend(tokens=60, usd=0.2)
    assert 0.1 + 0.2 > 0.3  # what binary floats would have done
    assert (after.used_tokens, after.used_usd) == (100, Decimal("0.3"))
    assert after.as_json()["usedUsd"] == 0.3
    env.check_route(after, [SOURCE], here=TARGET)
    assert (start.used_tokens, start.used_usd) == (0, 0)  # budgets are values
    refused(env.BUDGET_EXCEEDED, after.spend, tokens=1)
    refused(env.BUDGET_EXCEEDED, after.spend, usd=Decimal("0.000001"))
    after.spend()  # spending nothing at the limit is fine


def test_spent_usd_survives_the_wire() -> None:
    budget = env.make_budget(max_usd=1).spend(usd=0.1).spend(usd=0.2).spend(usd=0.7)
    parsed = env.parse_budget(json.loads(json.dumps(budget.as_json())))
    assert parsed.used_usd == Decimal(1) and parsed == budget
    refused(env.BUDGET_EXCEEDED, parsed.spend, usd=0.01)


@pytest.mark.parametrize(
    "spent",
    [
        {"tokens": -1},
        {"tokens": 1.5},
        {"tokens": True},
        {"usd": -0.1},
        {"usd": float("nan")},
        {"usd": float("inf")},
        {"usd": "0.1"},
        {"usd": True},
    ],
)
def test_spending_nonsense_is_invalid_budget(spent: dict[str, Any]) -> None:
    refused(env.INVALID_BUDGET, env.make_budget().spend, **spent)


# --- the byte-exact test vector (docs/PROTOCOL.md §7.8) -------------------------------------------------


def test_vector_is_reproduced_byte_for_byte() -> None:
    wanted = VECTOR["envelope"]
    document = env.seal(
        bytes.fromhex(VECTOR["session_mac_key_hex"]),
        message_id=wanted["id"],
        message_type=wanted["type"],
        source=wanted["source"],
        target=wanted["target"],
        session=wanted["session"],
        seq=wanted["seq"],
        now_ms=wanted["ts"],
        ttl_ms=wanted["exp"] - wanted["ts"],
        budget=env.parse_budget(wanted["budget"]),
        hops=wanted["hops"],
        payload=wanted["payload"],
        reply_to=wanted["reply_to"],
        nonce=wanted["nonce"],
    )
    assert document == wanted
    assert list(document) == list(env.FIELDS)
    unsigned = {k: v for k, v in document.items() if k != "mac"}
    assert canonical_json(unsigned).decode("utf-8") == VECTOR["signing_input"]
    assert env.payload_digest(document["payload"]) == VECTOR["payload_digest"] == wanted["payload_digest"]
    assert document["mac"] == VECTOR["mac"]


def test_vector_mac_and_digest_by_an_independent_computation() -> None:
    """hashlib, hmac and rfc8785 only: what another implementation would write."""
    document = VECTOR["envelope"]
    key = bytes.fromhex(VECTOR["session_mac_key_hex"])
    signing_input = rfc8785.dumps({k: v for k, v in document.items() if k != "mac"})
    assert signing_input == VECTOR["signing_input"].encode("utf-8")
    assert hmac.new(key, signing_input, hashlib.sha256).hexdigest() == VECTOR["mac"] == document["mac"]
    payload_bytes = rfc8785.dumps(document["payload"])
    assert payload_bytes == VECTOR["payload_canonical"].encode("utf-8")
    assert "sha256:" + hashlib.sha256(payload_bytes).hexdigest() == VECTOR["payload_digest"]
    # member names are ordered by UTF-16 code units: U+1F600 (D83D DE00) before U+FF21
    assert VECTOR["payload_canonical"].index("\U0001f600") < VECTOR["payload_canonical"].index("\uff21")


def test_vector_opens_at_the_receiver_and_refuses_any_change() -> None:
    raw = json.dumps(VECTOR["envelope"], ensure_ascii=False).encode("utf-8")
    key = bytes.fromhex(VECTOR["session_mac_key_hex"])
    envelope = env.open_envelope(
        env.loads(raw), key_for=lambda _e: key, audience=VECTOR["envelope"]["target"], now_ms=VECTOR["envelope"]["ts"]
    )
    assert envelope.budget.max_usd == Decimal("1.5") and envelope.budget.used_usd == Decimal("0.25")
    forged = copy.deepcopy(VECTOR["envelope"])
    forged["payload"]["input"]["document"]["meta"]["tags"][1] = "grosse"
    refused(
        env.BAD_MAC,
        env.open_envelope,
        forged,
        key_for=lambda _e: key,
        audience=forged["target"],
        now_ms=forged["ts"],
    )


def test_the_protocol_document_shows_this_vector() -> None:
    text = (Path(__file__).parent.parent / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    for value in (VECTOR["signing_input"], VECTOR["mac"], VECTOR["payload_digest"], VECTOR["session_mac_key_hex"]):
        assert value in text


# --- hostile text in identifying fields, sizes in bytes, budgets within exact JSON integers -----------


@pytest.mark.parametrize("field", ["target", "source", "id", "session", "nonce", "reply_to"])
@pytest.mark.parametrize("value", ["zürich", "a\u0000b", "\udc80", "x" * 129, "has space"])
def test_identifiers_outside_the_safe_ascii_set_are_refused_not_a_crash(field: str, value: str) -> None:
    document = sealed()
    document[field] = value
    if field == "source":
        document["hops"] = [value]
    with pytest.raises(env.EnvelopeError) as caught:
        open_(document)
    assert caught.value.code in (env.SCHEMA, env.INVALID_UTF8, env.NUL_CHARACTER)


def test_a_non_ascii_mac_is_refused_not_a_crash() -> None:
    document = sealed()
    document["mac"] = "é" * 64
    refused(env.SCHEMA, open_, document)


def test_a_nul_inside_the_payload_is_refused() -> None:
    refused(env.NUL_CHARACTER, open_, sealed(payload={"text": "a\u0000b"}))


def test_repeated_member_names_are_refused_as_ambiguous() -> None:
    refused(env.MALFORMED, env.loads, '{"a": 1, "a": 2}')


def test_the_size_limit_of_loads_counts_utf8_bytes_for_text_input() -> None:
    text = json.dumps("é" * 1000, ensure_ascii=False)  # 1002 characters, 2002 bytes
    refused(env.OVERSIZED, env.loads, text, max_bytes=1500)


def test_a_budget_that_parses_can_be_sealed() -> None:
    try:
        budget = env.make_budget(max_tokens=2**53, max_usd=1e16)
    except env.EnvelopeError as exc:  # fixed by refusing such budgets
        code = exc.code
    else:  # or fixed by sealing them
        code = env.INVALID_BUDGET
        open_(sealed(budget=budget))
    assert code == env.INVALID_BUDGET


# --- the sender's PII report (optional "scan" field) ---------------------------------------------

SCAN = {"pii": {"email": {"count": 2, "action": "REDACT"}, "ssn": {"count": 1, "action": "HASH"}}}


def test_the_senders_pii_report_rides_under_the_mac() -> None:
    document = sealed(scan=copy.deepcopy(SCAN))
    assert open_(document).document["scan"] == SCAN
    tampered = copy.deepcopy(document)
    tampered["scan"]["pii"]["email"]["count"] = 1
    refused(env.BAD_MAC, open_, tampered)
    stripped = {name: value for name, value in document.items() if name != "scan"}
    refused(env.BAD_MAC, open_, stripped)


@pytest.mark.parametrize(
    "scan",
    [
        None,
        [],
        {},
        {"pii": [], "extra": 1},
        {"pii": {"email": {"count": 0, "action": "REDACT"}}},
        {"pii": {"email": {"count": 1.5, "action": "REDACT"}}},
        {"pii": {"email": {"count": True, "action": "REDACT"}}},
        {"pii": {"email": {"count": 1, "action": "DELETE"}}},
        {"pii": {"email": {"count": 1, "action": ["BLOCK"]}}},
        {"pii": {"email": {"count": 1}}},
        {"pii": {"bad type!": {"count": 1, "action": "PASS"}}},
        {"pii": {f"t{i}": {"count": 1, "action": "PASS"} for i in range(65)}},
    ],
)
def test_a_malformed_pii_report_is_schema_invalid_even_under_a_valid_mac(scan: Any) -> None:
    refused(env.SCHEMA, open_, sealed(scan=scan) if scan is not None else {**sealed(), "scan": None})
