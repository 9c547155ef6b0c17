"""Apply PII policies to a structured payload: every string (keys too) scanned and transformed.

The outcome records types, counts and actions, never the values themselves, so it can ride in
the envelope and the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
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

    def findings(self, text: str) -> list[Detection]:
        self.outcome.strings += 1
        self.outcome.chars += len(text)
        found = []
        for detection in self.calibration.apply(self.scan(text)):
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

    def text(self, text: str) -> str:
        found = self.findings(text)
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

    def integer(self, value: int) -> Any:
        digits = str(value)
        new = self.text(digits)
        return value if new == digits else new

    def walk(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ScanError("TOO_DEEP", f"the payload nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for key, item in value.items():
                new_key = self.text(key) if isinstance(key, str) else key
                while new_key in result:  # two keys redacted alike must not overwrite each other
                    new_key = f"{new_key}#"
                result[new_key] = self.walk(item, depth + 1)
            return result
        if isinstance(value, list | tuple):
            return [self.walk(item, depth + 1) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_SCANNED_INTEGER:
            return self.integer(value)
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
