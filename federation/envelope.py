"""Message envelopes: build, MAC, parse and check — pure Python, no Django.

An envelope carries one message between two nodes over an established session. Every field,
the nested payload included, is covered by an HMAC-SHA256 under the session key over the RFC 8785
canonical form of the envelope without its `mac` (docs/PROTOCOL.md §7). The stateful checks (seen
nonces, the sequence window, the session itself, the peer's tier) live with the database in
`messaging.services`; everything that needs only the bytes, a key and a clock lives here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from federation.canonical import CanonicalJSONError, canonical_json

VERSION = 1
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_DEPTH = 32
DEFAULT_TTL_MS = 5 * 60 * 1000
MAX_TTL_MS = 60 * 60 * 1000
CLOCK_SKEW_MS = 30 * 1000
DEFAULT_MAX_HOPS = 8
MAX_HOPS_CEILING = 64
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer every JSON implementation reads exactly (RFC 8785)
MAX_USD = Decimal(10) ** 12
IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAC_PATTERN = re.compile(r"[0-9a-f]{64}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")

MESSAGE_TYPES = frozenset(
    {
        "task-assignment",
        "task-result",
        "memory-query",
        "memory-response",
        "context-share",
        "status",
        "ping",
        "trust-change",
        "topology-change",
        "agent-spawn",
        "agent-handoff",
        "claim-event",
        "consensus-propose",
        "consensus-vote",
        "consensus-commit",
    }
)

FIELDS = (
    "v",
    "id",
    "type",
    "source",
    "target",
    "session",
    "seq",
    "ts",
    "exp",
    "nonce",
    "budget",
    "hops",
    "reply_to",
    "payload",
    "payload_digest",
    "mac",
)
# Present when the sender ran its PII pipeline: per type, how many and what was done, never values.
OPTIONAL_FIELDS = ("scan",)
SCAN_ACTIONS = frozenset({"BLOCK", "REDACT", "HASH", "PASS"})
MAX_SCAN_TYPES = 64
BUDGET_FIELDS = ("maxHops", "maxTokens", "maxUsd", "usedTokens", "usedUsd")

# Reason codes sent back to the sender and written to the audit trail on both sides.
MALFORMED = "MALFORMED"
OVERSIZED = "OVERSIZED"
INVALID_UTF8 = "INVALID_UTF8"
NUL_CHARACTER = "NUL_CHARACTER"
TOO_DEEP = "TOO_DEEP"
SCHEMA = "SCHEMA_INVALID"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
WRONG_AUDIENCE = "WRONG_AUDIENCE"
BAD_MAC = "BAD_MAC"
DIGEST_MISMATCH = "PAYLOAD_DIGEST_MISMATCH"
EXPIRED = "EXPIRED"
FUTURE_DATED = "FUTURE_DATED"
INVALID_BUDGET = "INVALID_BUDGET"
HOP_LIMIT_EXCEEDED = "HOP_LIMIT_EXCEEDED"
BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
LOOP_DETECTED = "LOOP_DETECTED"


class EnvelopeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- budgets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    max_hops: int
    max_tokens: int | None
    max_usd: Decimal | None
    used_tokens: int
    used_usd: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "maxHops": self.max_hops,
            "maxTokens": self.max_tokens,
            "maxUsd": _usd_json(self.max_usd),
            "usedTokens": self.used_tokens,
            "usedUsd": _usd_json(self.used_usd),
        }

    def spend(self, *, tokens: int = 0, usd: Decimal | float | int = 0) -> Budget:
        """The budget after this node spent `tokens` / `usd`; raises when that exceeds a limit."""
        if not _is_int(tokens) or not 0 <= tokens <= MAX_SAFE_INTEGER:
            raise EnvelopeError(INVALID_BUDGET, "spent tokens must be a non-negative integer")
        spent_usd = _usd(usd, "spent usd")
        after = Budget(
            self.max_hops, self.max_tokens, self.max_usd, self.used_tokens + tokens, self.used_usd + spent_usd
        )
        after.check_spend()
        if after.used_tokens > MAX_SAFE_INTEGER or after.used_usd > MAX_USD:
            raise EnvelopeError(BUDGET_EXCEEDED, "the spend is beyond what a budget can carry")
        return after

    def check_spend(self) -> None:
        if self.max_tokens is not None and self.used_tokens > self.max_tokens:
            raise EnvelopeError(BUDGET_EXCEEDED, f"{self.used_tokens} tokens used of maxTokens {self.max_tokens}")
        if self.max_usd is not None and self.used_usd > self.max_usd:
            raise EnvelopeError(BUDGET_EXCEEDED, f"{self.used_usd} USD used of maxUsd {self.max_usd}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _usd(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise EnvelopeError(INVALID_BUDGET, f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise EnvelopeError(INVALID_BUDGET, f"{name} must be finite")
    amount = Decimal(str(value))
    if not amount.is_finite() or not 0 <= amount <= MAX_USD:
        raise EnvelopeError(INVALID_BUDGET, f"{name} must be a finite number from 0 to {MAX_USD:,}")
    return amount


def _usd_json(amount: Decimal | None) -> int | float | None:
    if amount is None:
        return None
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def make_budget(*, max_hops: Any = DEFAULT_MAX_HOPS, max_tokens: Any = None, max_usd: Any = None) -> Budget:
    fields = {"maxHops": max_hops, "maxTokens": max_tokens, "maxUsd": max_usd, "usedTokens": 0, "usedUsd": 0}
    return parse_budget(fields)


def parse_budget(value: Any) -> Budget:
    """Validate a budget object; anything odd (NaN, negative, non-integer hops) is INVALID_BUDGET."""
    if not isinstance(value, dict) or set(value) != set(BUDGET_FIELDS):
        raise EnvelopeError(INVALID_BUDGET, f"budget must have exactly {', '.join(BUDGET_FIELDS)}")
    hops = value["maxHops"]
    if not _is_int(hops) or not 0 <= hops <= MAX_HOPS_CEILING:
        raise EnvelopeError(INVALID_BUDGET, f"maxHops must be an integer from 0 to {MAX_HOPS_CEILING}")
    max_tokens = value["maxTokens"]
    if max_tokens is not None and (not _is_int(max_tokens) or not 0 <= max_tokens <= MAX_SAFE_INTEGER):
        raise EnvelopeError(INVALID_BUDGET, "maxTokens must be null or an integer from 0 to 2^53-1")
    used_tokens = value["usedTokens"]
    if not _is_int(used_tokens) or not 0 <= used_tokens <= MAX_SAFE_INTEGER:
        raise EnvelopeError(INVALID_BUDGET, "usedTokens must be an integer from 0 to 2^53-1")
    max_usd = None if value["maxUsd"] is None else _usd(value["maxUsd"], "maxUsd")
    return Budget(hops, max_tokens, max_usd, used_tokens, _usd(value["usedUsd"], "usedUsd"))


def check_route(budget: Budget, hops: list[str], *, here: str) -> None:
    """Enforced by every node that receives or forwards: no loops, hops and spend within budget.

    `hops` lists the origin and then every node that forwarded the message; a direct message has
    one entry, so `maxHops` 0 lets it arrive but forbids passing it on.
    """
    if here in hops:
        raise EnvelopeError(LOOP_DETECTED, "this node is already on the message's hop chain")
    if len(set(hops)) != len(hops):
        raise EnvelopeError(LOOP_DETECTED, "the hop chain visits a node twice")
    if len(hops) - 1 > budget.max_hops:
        raise EnvelopeError(HOP_LIMIT_EXCEEDED, f"{len(hops) - 1} forwards exceed maxHops {budget.max_hops}")
    budget.check_spend()


# --- building ----------------------------------------------------------------------------------


def new_id() -> str:
    return uuid.uuid4().hex


def new_nonce() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def payload_digest(payload: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(payload)).hexdigest()


def mac_of(key: bytes, envelope: dict[str, Any]) -> str:
    unsigned = {name: value for name, value in envelope.items() if name != "mac"}
    return hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


def seal(
    key: bytes,
    *,
    message_id: str,
    message_type: str,
    source: str,
    target: str,
    session: str,
    seq: int,
    now_ms: int,
    budget: Budget,
    hops: list[str],
    payload: Any,
    reply_to: str | None = None,
    ttl_ms: int = DEFAULT_TTL_MS,
    nonce: str | None = None,
    scan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete envelope with a fresh nonce, ready to send as JSON."""
    envelope = {
        "v": VERSION,
        "id": message_id,
        "type": message_type,
        "source": source,
        "target": target,
        "session": session,
        "seq": seq,
        "ts": now_ms,
        "exp": now_ms + ttl_ms,
        "nonce": nonce or new_nonce(),
        "budget": budget.as_json(),
        "hops": hops,
        "reply_to": reply_to,
        "payload": payload,
        "payload_digest": payload_digest(payload),
    }
    if scan is not None:
        envelope["scan"] = scan
    envelope["mac"] = mac_of(key, envelope)
    return envelope


# --- parsing and checking -----------------------------------------------------------------------


def _keep_constant(name: str) -> float:
    return float(name.lower().replace("infinity", "inf"))  # NaN/Infinity reach the budget check


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate member names are ambiguous (first or last wins?): refuse them outright."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise EnvelopeError(MALFORMED, "an object repeats a member name")
    return document


def loads(raw: bytes | str, *, max_bytes: int = MAX_ENVELOPE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Bytes off the wire → a JSON value, refusing oversize, invalid UTF-8 and deep nesting."""
    if len(raw) > max_bytes or (isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > max_bytes):
        raise EnvelopeError(OVERSIZED, f"more than {max_bytes} bytes")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError(INVALID_UTF8, f"not UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(raw, parse_constant=_keep_constant, object_pairs_hook=_unique_members)
    except RecursionError as exc:
        raise EnvelopeError(TOO_DEEP, "nesting too deep to parse") from exc
    except ValueError as exc:
        raise EnvelopeError(MALFORMED, f"not JSON: {exc}") from exc
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Iterative, so a hostile structure cannot exhaust the stack here."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise EnvelopeError(TOO_DEEP, f"nested deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def check_strings(value: Any) -> None:
    """Lone surrogates (JSON escapes like \\udc80) are not Unicode text: refuse them as invalid
    UTF-8. NUL is refused too: no store we use (PostgreSQL jsonb) can keep it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise EnvelopeError(INVALID_UTF8, "a string holds an unpaired surrogate") from exc
            if "\x00" in item:
                raise EnvelopeError(NUL_CHARACTER, "a string holds a NUL character")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@dataclass(frozen=True)
class Envelope:
    document: dict[str, Any]
    budget: Budget

    @property
    def id(self) -> str:
        return self.document["id"]

    @property
    def type(self) -> str:
        return self.document["type"]

    @property
    def source(self) -> str:
        return self.document["source"]

    @property
    def session(self) -> str:
        return self.document["session"]

    @property
    def seq(self) -> int:
        return self.document["seq"]

    @property
    def hops(self) -> list[str]:
        return self.document["hops"]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EnvelopeError(SCHEMA, message)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _identifier(value: Any) -> bool:
    """ASCII only, so identifiers compare in constant time and print safely in the audit trail."""
    return _matches(IDENTIFIER, value)


def check_schema(document: Any) -> Envelope:
    """Shape and types of every field; budgets validated; no MAC or clock yet."""
    _require(isinstance(document, dict), "an envelope is a JSON object")
    missing = [name for name in FIELDS if name not in document]
    _require(not missing, f"missing fields: {', '.join(missing)}")
    extra = sorted(set(document) - set(FIELDS) - set(OPTIONAL_FIELDS))
    _require(not extra, f"unknown fields: {', '.join(extra)[:200]}")
    check_strings(document)
    _require(document["v"] == VERSION and _is_int(document["v"]), f"unsupported envelope version {document['v']!r}")
    for name in ("id", "source", "target", "session", "nonce"):
        _require(_identifier(document[name]), f"{name} must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    if not isinstance(document["type"], str) or document["type"] not in MESSAGE_TYPES:
        raise EnvelopeError(UNKNOWN_TYPE, f"unknown message type {str(document['type'])[:40]!r}")
    for name in ("seq", "ts", "exp"):
        _require(
            _is_int(document[name]) and 0 <= document[name] <= MAX_SAFE_INTEGER,
            f"{name} must be an integer from 0 to 2^53-1",
        )
    _require(document["reply_to"] is None or _identifier(document["reply_to"]), "reply_to must be null or an id")
    hops = document["hops"]
    _require(isinstance(hops, list) and 0 < len(hops) <= MAX_HOPS_CEILING + 1, "hops must list 1 to 65 node ids")
    _require(all(_identifier(hop) for hop in hops), "hops must be node ids")
    _require(hops[-1] == document["source"], "the last hop must be the source")
    _require(_matches(DIGEST_PATTERN, document["payload_digest"]), "payload_digest must be sha256: and 64 hex digits")
    _require(_matches(MAC_PATTERN, document["mac"]), "mac must be 64 lowercase hex digits")
    if "scan" in document:
        check_scan(document["scan"])
    return Envelope(document, parse_budget(document["budget"]))


def check_scan(scan: Any) -> None:
    """``{"pii": {type: {"count": n, "action": A}}}``: the sender's PII decisions, shape only."""
    _require(isinstance(scan, dict) and set(scan) == {"pii"}, 'scan must be {"pii": {...}}')
    findings = scan["pii"]
    _require(isinstance(findings, dict) and len(findings) <= MAX_SCAN_TYPES, "scan.pii must map up to 64 types")
    for name, finding in findings.items():
        _require(_identifier(name) and len(name) <= 32, "scan.pii keys must be type names")
        _require(isinstance(finding, dict) and set(finding) == {"count", "action"}, "a scan entry is count + action")
        count = finding["count"]
        _require(_is_int(count) and 0 < count <= MAX_SAFE_INTEGER, "a scan count must be a positive integer")
        action = finding["action"]
        _require(isinstance(action, str) and action in SCAN_ACTIONS, "a scan action is BLOCK, REDACT, HASH or PASS")


def verify_mac(key: bytes, envelope: Envelope, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> None:
    unsigned = {name: value for name, value in envelope.document.items() if name != "mac"}
    try:
        signed_bytes = canonical_json(unsigned)
    except CanonicalJSONError as exc:  # e.g. NaN outside the budget
        raise EnvelopeError(MALFORMED, f"not canonicalisable JSON: {exc}") from exc
    if len(signed_bytes) > max_bytes:
        raise EnvelopeError(OVERSIZED, f"the envelope is {len(signed_bytes)} bytes; the limit is {max_bytes}")
    expected = hmac.new(key, signed_bytes, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), envelope.document["mac"].encode()):
        raise EnvelopeError(BAD_MAC, "the MAC does not verify under this session's key")
    digest = payload_digest(envelope.document["payload"]).encode()
    if not hmac.compare_digest(digest, envelope.document["payload_digest"].encode()):
        raise EnvelopeError(DIGEST_MISMATCH, "payload_digest does not match the payload")


def check_time(envelope: Envelope, *, now_ms: int, skew_ms: int = CLOCK_SKEW_MS, max_ttl_ms: int = MAX_TTL_MS) -> None:
    ts, exp = envelope.document["ts"], envelope.document["exp"]
    if exp <= ts or exp - ts > max_ttl_ms:
        raise EnvelopeError(SCHEMA, f"exp must be after ts and at most {max_ttl_ms} ms later")
    if ts > now_ms + skew_ms:
        raise EnvelopeError(FUTURE_DATED, f"timestamp is {ts - now_ms} ms in the future")
    if exp + skew_ms < now_ms:
        raise EnvelopeError(EXPIRED, f"expired {now_ms - exp} ms ago")


def open_envelope(
    document: Any,
    *,
    key_for: Any,
    audience: str,
    now_ms: int,
    skew_ms: int = CLOCK_SKEW_MS,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> Envelope:
    """All stateless checks in the order a receiver runs them. `key_for(envelope)` returns the
    session key (and raises EnvelopeError for an unknown session) once the shape is known."""
    envelope = check_schema(document)
    if not hmac.compare_digest(envelope.document["target"].encode(), audience.encode()):
        raise EnvelopeError(WRONG_AUDIENCE, "this envelope is addressed to another node")
    verify_mac(key_for(envelope), envelope, max_bytes=max_bytes)
    check_time(envelope, now_ms=now_ms, skew_ms=skew_ms)
    check_route(envelope.budget, envelope.hops, here=audience)
    return envelope
