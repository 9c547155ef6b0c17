"""The PII evaluation corpus generator itself: deterministic, labels that point at real values, honest splits."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench import pii_corpus
from bench.pii_corpus import TYPES, Sample, generate, load_presidio_research, luhn_ok, ssn_ok, traffic_samples

pytestmark = pytest.mark.timeout(60)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _unescape(value: str) -> str:
    """PEM blocks are written escaped inside JSON / .env strings and indented inside YAML blocks."""
    value = value.replace("\\\\n", "\n").replace("\\n", "\n")  # JSON in JSON escapes twice
    return "\n".join(line.strip() for line in value.split("\n"))


def _github_ok(v: str) -> bool:
    if v.startswith("github_pat_"):
        return re.fullmatch(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", v) is not None
    if not re.fullmatch(r"gh[pousr]_[A-Za-z0-9]{36}", v):
        return False
    body, check = v[4:34], v[34:]
    crc, out = zlib.crc32(body.encode()), ""
    while crc:
        crc, rem = divmod(crc, 62)
        out = _B62[rem] + out
    return out.rjust(6, "0") == check


def _jwt_ok(v: str) -> bool:
    parts = v.split(".")
    if len(parts) != 3:
        return False
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    return "alg" in header and "exp" in payload


def _private_key_ok(v: str) -> bool:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

    pem = _unescape(v)
    if not (pem.startswith("-----BEGIN ") and pem.endswith("PRIVATE KEY-----")):
        return False
    if "OPENSSH" in pem:
        load_ssh_private_key(pem.encode(), None)
    else:
        load_pem_private_key(pem.encode(), None)
    return True


def _db_url_ok(v: str) -> bool:
    parts = urlsplit(v)
    return bool(parts.scheme and parts.password and parts.hostname)


SANE = {
    "email": lambda v: re.fullmatch(r"[A-Za-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", v) is not None,
    "ssn": ssn_ok,
    "credit_card": lambda v: luhn_ok(v) and 14 <= sum(c.isdigit() for c in v) <= 16,
    "api_key": lambda v: len(v) >= 20 and not re.search(r"\s", v),
    "jwt": _jwt_ok,
    "aws_key": lambda v: re.fullmatch(r"(AKIA|ASIA)[A-Z2-7]{16}|[A-Za-z0-9/+]{40}", v) is not None,
    "phone": lambda v: re.fullmatch(r"[+\d()\s.-]+", v) is not None and 9 <= sum(c.isdigit() for c in v) <= 13,
    "person_name": lambda v: len(v.split()) >= 2 and not re.search(r"\d", v) and v[0].isupper(),
    "ip_address": lambda v: ipaddress.ip_address(v) is not None,
    "street_address": lambda v: re.search(r"\d", v) is not None and re.search(r"[^\W\d]{3}", v) is not None,
    "password": lambda v: len(v) >= 8 and not re.search(r"\s", v),
    "private_key": _private_key_ok,
    "database_url": _db_url_ok,
    "github_token": _github_ok,
}


@pytest.fixture(scope="module")
def dev() -> list[Sample]:
    return generate(400, seed=7, split="dev")


@pytest.fixture(scope="module")
def test() -> list[Sample]:
    return generate(400, seed=7, split="test")


def test_same_seed_same_corpus(dev: list[Sample]) -> None:
    again = generate(400, seed=7, split="dev")
    assert [(s.text, s.spans) for s in again] == [(s.text, s.spans) for s in dev]
    other = generate(50, seed=8, split="dev")
    assert [s.text for s in other] != [s.text for s in dev[:50]]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_every_span_points_at_a_valid_value(split: str, dev: list[Sample], test: list[Sample]) -> None:
    samples = dev if split == "dev" else test
    seen = dict.fromkeys(TYPES, 0)
    for s in samples:
        last_end = -1
        for typ, start, end in sorted(s.spans, key=lambda sp: sp[1]):
            assert typ in TYPES
            assert 0 <= start < end <= len(s.text)
            assert start >= last_end, f"overlapping spans in {s.id}"
            last_end = end
            value = s.text[start:end]
            assert value == value.strip(), (s.id, typ, value)
            assert SANE[typ](value), (s.id, typ, value)
            seen[typ] += 1
    assert all(n >= 15 for n in seen.values()), seen


def test_hard_negatives_are_present_and_unlabelled(dev: list[Sample]) -> None:
    negatives = [s for s in dev if not s.spans]
    assert len(negatives) > 0.1 * len(dev)
    blob = "\n".join(s.text for s in negatives)
    assert re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-", blob)  # UUIDs
    assert "-----BEGIN" in blob and "PRIVATE KEY" not in blob  # public keys / certificates only
    bad_ssns = re.findall(r"\b(?:000|666|9\d\d)-\d\d-\d{4}\b", blob)
    assert bad_ssns and not any(ssn_ok(v) for v in bad_ssns)
    assert re.search(r"(postgres|redis|mysql)://[\w.-]+:\d+/", blob)  # credential-less URLs


def test_splits_use_different_templates_and_values(dev: list[Sample], test: list[Sample]) -> None:
    dev_scenes = {s.source for s in dev}
    test_scenes = {s.source for s in test}
    assert dev_scenes - test_scenes and test_scenes - dev_scenes
    assert not {s.text for s in dev} & {s.text for s in test}
    dev_values = {s.text[a:b] for s in dev for _, a, b in s.spans}
    test_values = {s.text[a:b] for s in test for _, a, b in s.spans}
    assert len(dev_values & test_values) < 0.02 * len(test_values)
    with pytest.raises(ValueError, match="split"):
        generate(1, split="train")


def test_mixed_traffic_pii_fraction() -> None:
    messages = traffic_samples(300_000, pii_fraction=0.02, seed=3)
    total = sum(len(m.text.encode()) + 1 for m in messages)
    pii = sum(len(m.text[a:b].encode()) for m in messages for _, a, b in m.spans)
    assert 300_000 <= total < 360_000
    assert 0.015 < pii / total < 0.03
    assert pii_corpus.mixed_traffic(20_000, seed=3).count("\n") > 10


@pytest.mark.skipif(not pii_corpus.PRESIDIO_RESEARCH_PATH.exists(), reason="shared presidio-research data not present")
def test_presidio_research_loader() -> None:
    samples = load_presidio_research(merge_addresses=False)
    assert len(samples) > 1000
    raw = json.loads(pii_corpus.PRESIDIO_RESEARCH_PATH.read_text(encoding="utf-8"))
    for s, row in zip(samples, raw, strict=True):
        values = {
            (pii_corpus.PRESIDIO_RESEARCH_TYPES.get(sp["entity_type"]), sp["entity_value"]) for sp in row["spans"]
        }
        for typ, a, b in s.spans:
            assert (typ, s.text[a:b]) in values
        assert len(s.spans) + len(s.ignored) == len(row["spans"])
    kinds = {t for s in samples for t, _, _ in s.spans}
    assert kinds == set(pii_corpus.PRESIDIO_RESEARCH_TYPES.values())


def test_presidio_research_address_parts_become_one_address(tmp_path: Any) -> None:
    text = "Ship to Sara Schwarz\n  28245 Puruntie 82 Apt. 595\n  LAPPEENRANTA, 53650 today. Lives in Oulu."
    parts = [("PERSON", "Sara Schwarz"), ("STREET_ADDRESS", "28245"), ("STREET_ADDRESS", "Puruntie 82")]
    parts += [("STREET_ADDRESS", "Apt. 595"), ("GPE", "LAPPEENRANTA"), ("ZIP_CODE", "53650"), ("GPE", "Oulu")]
    spans = [
        {
            "entity_type": kind,
            "entity_value": value,
            "start_position": text.index(value),
            "end_position": text.index(value) + len(value),
        }
        for kind, value in parts
    ]
    path = tmp_path / "set.json"
    path.write_text(json.dumps([{"full_text": text, "spans": spans, "template_id": 1}]), encoding="utf-8")
    merged = load_presidio_research(path)[0]
    assert [(t, merged.text[a:b]) for t, a, b in merged.spans] == [
        ("person_name", "Sara Schwarz"),
        ("street_address", "28245 Puruntie 82 Apt. 595\n  LAPPEENRANTA, 53650"),
    ]
    assert [merged.text[a:b] for a, b in merged.ignored] == ["Oulu"]  # a city on its own is not an address
    split = load_presidio_research(path, merge_addresses=False)[0]
    assert [merged.text[a:b] for t, a, b in split.spans if t == "street_address"] == [
        "28245",
        "Puruntie 82",
        "Apt. 595",
    ]
