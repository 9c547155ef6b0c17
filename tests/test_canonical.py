"""The canonical JSON fast path must produce the reference RFC 8785 bytes, always."""

from __future__ import annotations

import random
from typing import Any

import pytest
import rfc8785

from federation.canonical import CanonicalJSONError, canonical_json

ALPHABET = ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "a", "Z", "0", " ", "é", "€",
            "\u2028", "\ufeff", "\uffff", "😀", "\U0010ffff", "\uff21", "中"]  # fmt: skip

FLOATS = [0.5, -1.25, 1e21, 1e-7, 123456789.125, 2.5e-300, 1.0, -0.0, 1 / 3, 0.0001, 0.000099, 9999999999999998.0]
FLOATS += [1e16 - 2, 0.1 + 0.2]


def text(rng: random.Random, ascii_only: bool = False) -> str:
    pool = [c for c in ALPHABET if c.isascii()] if ascii_only else ALPHABET
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 8)))


def document(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(
        ["str", "int", "bigint", "float", "bool", "null", "list", "dict", "dict"][: 9 if depth < 4 else 6]
    )
    if kind == "str":
        return text(rng)
    if kind == "int":
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == "bigint":
        return rng.choice([2**53 - 1, -(2**53) + 1, 0, -1, 10**15])
    if kind == "float":
        return rng.choice([*FLOATS, rng.uniform(-1e6, 1e6), rng.uniform(0, 1e-3)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [document(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    ascii_keys = rng.random() < 0.7
    return {text(rng, ascii_keys): document(rng, depth + 1) for _ in range(rng.randint(0, 5))}


@pytest.mark.parametrize("seed", range(20))
def test_generated_documents_match_the_reference_implementation(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        value = document(rng)
        assert canonical_json(value) == rfc8785.dumps(value), value


@pytest.mark.parametrize(
    "value",
    [
        {"z": 1, "a": {"y": [1, "x"], "b": None}, "m": True},
        {"ctrl": '\x00\x01\x1f\b\f\n\r\t"\\/', "uni": "é€😀\u2028"},
        {"€": 1, "😀": 2, "\uff21": 3, "a": 4},  # UTF-16 order differs from code-point order here
        {"n": 2**53 - 1, "m": -(2**53) + 1},
        [1.0, 0.1, 1e21, 1e-7],
    ],
)
def test_known_tricky_documents_match(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [{"n": 2**53}, {"f": float("nan")}, {"f": float("inf")}, {"s": "\udc80"}, {1: 2}])
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)
