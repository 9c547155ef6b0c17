"""The policy pipeline and the calibration method, with a scanner we control (pure Python)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pii.engine import Detection, ScanError
from pii.engine.calibration import MIN_SAMPLES, Calibration, Evidence, posterior
from pii.engine.pipeline import BLOCK, HASH, PASS, REDACT, Rule, apply_policy, keyed_hasher, normalise

# A scanner for the pipeline's own tests: emails, card-like digit groups and "Alice Smith".
PATTERNS = {
    "email": re.compile(r"[\w.]+@[\w.]+\.\w+"),
    "credit_card": re.compile(r"\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}"),
    "person_name": re.compile(r"Alice Smith"),
}


def fake_scan(text: str) -> list[Detection]:
    found = [
        Detection(pii_type, m.start(), m.end(), 0.9 if pii_type != "person_name" else 0.55, f"{pii_type}.test")
        for pii_type, pattern in PATTERNS.items()
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda d: d.start)


RULES = {
    "email": Rule(REDACT, 0.5),
    "credit_card": Rule(HASH, 0.5),
    "person_name": Rule(PASS, 0.5),
}


def run(payload: Any, rules: dict[str, Rule] = RULES, **kwargs: Any) -> Any:
    return apply_policy(payload, rules=rules, scan=fake_scan, hasher=keyed_hasher(b"k" * 32), **kwargs)


def test_every_string_of_a_nested_payload_is_transformed_keys_included() -> None:
    outcome = run(
        {
            "to": "bob@example.com",
            "notes": ["card 4111 1111 1111 1111 on file", {"bob@example.com": "Alice Smith"}],
            "count": 3,
            "ok": True,
        }
    )
    payload = outcome.payload
    assert payload["to"] == "[REDACTED:email]"
    assert re.fullmatch(r"card \[HASH:credit_card:[0-9a-f]{24}\] on file", payload["notes"][0])
    assert payload["notes"][1] == {"[REDACTED:email]": "Alice Smith"}  # key redacted, PASS kept the value
    assert payload["count"] == 3 and payload["ok"] is True
    assert outcome.summary() == {
        "credit_card": {"count": 1, "action": HASH},
        "email": {"count": 2, "action": REDACT},
        "person_name": {"count": 1, "action": PASS},
    }
    assert not outcome.blocked and outcome.changed
    assert "example.com" not in str(outcome.summary())


def test_block_names_the_types_and_an_unknown_type_fails_closed() -> None:
    outcome = run("mail bob@example.com", rules={**RULES, "email": Rule(BLOCK, 0.5)})
    assert outcome.blocked == ["email"]
    outcome = run("Alice Smith", rules={"email": Rule(PASS, 0.5)})  # no rule for person_name
    assert outcome.blocked == ["person_name"]


def test_below_threshold_nothing_happens() -> None:
    outcome = run("Alice Smith", rules={**RULES, "person_name": Rule(REDACT, 0.6)})
    assert outcome.payload == "Alice Smith" and outcome.counts == {}


def test_hash_tokens_are_stable_for_the_same_value_however_written_and_keyed() -> None:
    one = keyed_hasher(b"a" * 32)
    assert one("credit_card", "4111 1111 1111 1111") == one("credit_card", "4111-1111-1111-1111")
    assert one("email", "Bob@Example.com") == one("email", "bob@example.com")
    assert one("email", "bob@example.com") != one("email", "rob@example.com")
    assert one("email", "bob@example.com") != keyed_hasher(b"b" * 32)("email", "bob@example.com")
    assert normalise("phone", "+1 (555) 010-9999") == "+15550109999"


def test_unquoted_long_integers_are_scanned_too() -> None:
    outcome = run({"card": 4111111111111111, "small": 42})
    assert outcome.payload["card"].startswith("[HASH:credit_card:") and outcome.payload["small"] == 42


def test_keys_redacted_alike_do_not_overwrite_each_other() -> None:
    outcome = run({"a@example.com": 1, "b@example.com": 2})
    assert sorted(outcome.payload.values()) == [1, 2] and len(outcome.payload) == 2


def test_too_deep_payloads_are_refused_with_a_reason() -> None:
    nested: Any = "x"
    for _ in range(80):
        nested = [nested]
    with pytest.raises(ScanError) as refused:
        run(nested)
    assert refused.value.code == "TOO_DEEP"


# --- calibration --------------------------------------------------------------------------------


def detection(confidence: float, detector: str = "email.test", pii_type: str = "email") -> Detection:
    return Detection(pii_type, 0, 5, confidence, detector)


def test_false_positive_verdicts_push_a_detector_below_the_threshold() -> None:
    calibration = Calibration(by_detector={"email.test": Evidence(false_positive=10)})
    assert calibration.confidence(detection(0.9)) == pytest.approx(0.45)
    outcome = apply_policy("bob@example.com", rules=RULES, scan=fake_scan, calibration=calibration)
    assert outcome.payload == "bob@example.com" and outcome.counts == {}  # now under 0.5: ignored


def test_confirmations_raise_a_hesitant_detector() -> None:
    calibration = Calibration(by_detector={"person_name.test": Evidence(confirmed=10)})
    assert calibration.confidence(detection(0.55, "person_name.test", "person_name")) == pytest.approx(0.775)
    strict = {**RULES, "person_name": Rule(REDACT, 0.7)}
    assert run("Alice Smith", rules=strict).payload == "Alice Smith"
    assert run("Alice Smith", rules=strict, calibration=calibration).payload == "[REDACTED:person_name]"


def test_too_few_verdicts_change_nothing_and_the_type_pool_is_the_fallback() -> None:
    few = Calibration(by_detector={"email.test": Evidence(false_positive=MIN_SAMPLES - 1)})
    assert few.confidence(detection(0.9)) == 0.9
    pooled = Calibration(
        by_detector={"email.test": Evidence(false_positive=1)},
        by_type={"email": Evidence(confirmed=2, false_positive=8)},
    )
    found = pooled.evidence_for(detection(0.9))
    assert found is not None and found[0] == "type:email"
    assert pooled.confidence(detection(0.9)) == pytest.approx(posterior(0.9, Evidence(2, 8)))


def test_evidence_reports_precision_and_estimated_recall() -> None:
    evidence = Evidence(confirmed=6, false_positive=2, missed=2)
    assert evidence.precision == 0.75 and evidence.recall == 0.75 and evidence.samples == 8
    assert Evidence().precision is None and Evidence().recall is None


def test_a_value_is_scanned_under_its_key_so_named_secrets_do_not_slip_through() -> None:
    # Bare values that only their key names: alone, none of them is recognisable.
    from pii.engine.scanner import Scanner

    scanner = Scanner()
    payload = {
        "password": "Tr0ub4dor&3",
        "db": {"pass": "hunter22x"},
        "ssn": "536228763",
        "backup_ssns": ["536-22-8763", 219456789],
        "api_key": "a8F3kL9qZ2xW7mN4pR6tY1uV5sB0cD3e",
        "password_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "status": "pending",
    }
    for value in ("Tr0ub4dor&3", "hunter22x", "536228763", "a8F3kL9qZ2xW7mN4pR6tY1uV5sB0cD3e"):
        assert scanner.scan(value) == [], value
    rules = {t: Rule(REDACT, 0.5) for t in ("password", "ssn", "api_key")}
    outcome = apply_policy(payload, rules=rules, scan=scanner.scan)
    assert outcome.payload == {
        "password": "[REDACTED:password]",
        "db": {"pass": "[REDACTED:password]"},
        "ssn": "[REDACTED:ssn]",
        "backup_ssns": ["[REDACTED:ssn]", "[REDACTED:ssn]"],  # list items inherit their list's key
        "api_key": "[REDACTED:api_key]",
        "password_hash": payload["password_hash"],  # a hash under a "password" name is not one
        "status": "pending",
    }
    assert outcome.summary() == {
        "api_key": {"count": 1, "action": REDACT},
        "password": {"count": 2, "action": REDACT},
        "ssn": {"count": 3, "action": REDACT},
    }


def test_a_finding_in_the_key_is_the_keys_and_offsets_map_back_to_the_value() -> None:
    outcome = run({"bob@example.com": "write to ann@example.org today"})
    assert outcome.payload == {"[REDACTED:email]": "write to [REDACTED:email] today"}
    assert outcome.summary() == {"email": {"count": 2, "action": REDACT}}
