"""Apply PII policies to a structured payload: every string (keys too) scanned and transformed.

The outcome records types, counts and actions, never the values themselves, so it can ride in
the envelope and the audit trail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pii.engine.calibration import UNCALIBRATED, Calibration
from pii.engine.types import Detection, ScanError

BLOCK, REDACT, HASH, PASS = "BLOCK", "REDACT", "HASH", "PASS"
ACTIONS = (BLOCK, REDACT, HASH, PASS)
MAX_DEPTH = 64
# Integers this long may be card, phone or social security numbers written without quotes.
MIN_SCANNED_INTEGER = 10**8
# A value is scanned as "key: value", so the detectors that need a name ("password", "ssn", "api_key")
# see it; only the key's last characters matter for that.
KEY_CONTEXT_CHARS = 64
# Nothing any detector finds alone fits in a short run of lower-case letters, "_" and "-" ("type",
# "task-assignment"); such strings are only worth scanning as a value under a key.
_INERT = re.compile(r"[a-z_\-]{0,40}")


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    threshold: float


# A type without a rule is blocked: an unknown finding never crosses the boundary by default.
FAIL_CLOSED = Rule(BLOCK, 0.5)

Scan = Callable[[str], list[Detection]]
Hasher = Callable[[str, str], str]


def normalise(pii_type: str, value: str) -> str:
    """One spelling per value, so the same card or address hashes alike however it was written."""
    if pii_type in {"credit_card", "ssn", "phone"}:
        digits = "".join(ch for ch in value if ch.isdigit())
        return ("+" if pii_type == "phone" and value.lstrip().startswith("+") else "") + digits
    if pii_type in {"email", "ip_address"}:
        return value.strip().casefold()
    if pii_type in {"person_name", "street_address"}:
        return " ".join(value.casefold().split())
    return value.strip()


def keyed_hasher(key: bytes, *, digest_chars: int = 24) -> Hasher:
    """HASH tokens: HMAC-SHA256 under a key both nodes of a pair hold, never a plain hash."""

    def token(pii_type: str, value: str) -> str:
        mac = hmac.new(key, f"{pii_type}\x00{normalise(pii_type, value)}".encode(), hashlib.sha256)
        return f"[HASH:{pii_type}:{mac.hexdigest()[:digest_chars]}]"

    return token


def redaction(pii_type: str) -> str:
    return f"[REDACTED:{pii_type}]"


@dataclass
class Outcome:
    payload: Any
    counts: dict[str, int] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    strings: int = 0
    chars: int = 0

    @property
    def blocked(self) -> list[str]:
        return sorted(t for t, action in self.actions.items() if action == BLOCK)

    @property
    def changed(self) -> bool:
        return any(action in {REDACT, HASH} for action in self.actions.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        """For the envelope and the audit trail: per type, how many and what was done."""
        return {t: {"count": self.counts[t], "action": self.actions[t]} for t in sorted(self.counts)}


class _Walker:
    def __init__(self, rules: Mapping[str, Rule], scan: Scan, calibration: Calibration, hasher: Hasher | None) -> None:
        self.rules, self.scan, self.calibration, self.hasher = rules, scan, calibration, hasher
        self.outcome = Outcome(payload=None)

    def rule(self, pii_type: str) -> Rule:
        return self.rules.get(pii_type, FAIL_CLOSED)

    def detections(self, text: str, key: str | None) -> list[Detection]:
        if key is None:
            return [] if _INERT.fullmatch(text) else self.scan(text)
        prefix = f"{key[-KEY_CONTEXT_CHARS:]}: "
        shift = len(prefix)
        # Findings inside the key belong to the key (scanned on its own); one straddling both is cut.
        return [
            dataclasses.replace(d, start=max(d.start, shift) - shift, end=d.end - shift)
            for d in self.scan(prefix + text)
            if d.end > shift
        ]

    def findings(self, text: str, key: str | None) -> list[Detection]:
        self.outcome.strings += 1
        self.outcome.chars += len(text)
        found = []
        for detection in self.calibration.apply(self.detections(text, key)):
            rule = self.rule(detection.type)
            if detection.confidence < rule.threshold:
                continue
            found.append(detection)
            counts = self.outcome.counts
            counts[detection.type] = counts.get(detection.type, 0) + 1
            self.outcome.actions[detection.type] = rule.action
        return found

    def replacement(self, detection: Detection, value: str) -> str | None:
        action = self.rule(detection.type).action
        if action == REDACT or (action == HASH and self.hasher is None):
            return redaction(detection.type)
        if action == HASH:
            assert self.hasher is not None
            return self.hasher(detection.type, value)
        return None  # PASS keeps the value; BLOCK refuses the whole message anyway

    def text(self, text: str, key: str | None = None) -> str:
        found = self.findings(text, key)
        if not found:
            return text
        pieces, cursor = [], 0
        for detection in found:  # sorted and non-overlapping, as the scanner returns them
            new = self.replacement(detection, text[detection.start : detection.end])
            if new is None:
                continue
            pieces.append(text[cursor : detection.start])
            pieces.append(new)
            cursor = detection.end
        if not pieces:
            return text
        pieces.append(text[cursor:])
        return "".join(pieces)

    def integer(self, value: int, key: str | None) -> Any:
        digits = str(value)
        new = self.text(digits, key)
        return value if new == digits else new

    def walk(self, value: Any, depth: int = 0, key: str | None = None) -> Any:
        """``key``: the name the value sits under (items of a list inherit their list's)."""
        if depth > MAX_DEPTH:
            raise ScanError("TOO_DEEP", f"the payload nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            return self.text(value, key)
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for name, item in value.items():
                new_name = self.text(name) if isinstance(name, str) else name
                while new_name in result:  # two keys redacted alike must not overwrite each other
                    new_name = f"{new_name}#"
                result[new_name] = self.walk(item, depth + 1, name if isinstance(name, str) else None)
            return result
        if isinstance(value, list | tuple):
            return [self.walk(item, depth + 1, key) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_SCANNED_INTEGER:
            return self.integer(value, key)
        return value


def apply_policy(
    payload: Any,
    *,
    rules: Mapping[str, Rule],
    scan: Scan,
    calibration: Calibration = UNCALIBRATED,
    hasher: Hasher | None = None,
) -> Outcome:
    """Scan and transform every string of ``payload`` (keys and values); see ``Outcome.blocked``."""
    walker = _Walker(rules, scan, calibration, hasher)
    walker.outcome.payload = walker.walk(payload)
    return walker.outcome


def transform_text(
    text: str, *, rules: Mapping[str, Rule], scan: Scan, calibration: Calibration = UNCALIBRATED, hasher: Hasher | None
) -> Outcome:
    return apply_policy(text, rules=rules, scan=scan, calibration=calibration, hasher=hasher)
