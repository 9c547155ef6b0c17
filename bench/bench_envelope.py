"""Envelope sign and verify per second, against the raw HMAC of the same bytes as the ceiling.

    .venv/bin/python -m bench.bench_envelope [COUNT]

Pure Python, no database: `federation.envelope` as the sender (seal) and the receiver (schema,
audience, MAC, digest, clock, route) run it on every message.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time

from bench.common import header, rate
from federation import envelope as env
from federation.canonical import canonical_json

KEY = bytes(range(32))
PAYLOADS = {
    "small task (~200 B)": {"task": "summarise the incident report", "priority": 2, "inputs": {"ticket": 4711}},
    "context (~4 KB, nested)": {
        "context": [{"turn": i, "role": "agent", "text": "observed state " * 12, "tags": ["a", "b"]} for i in range(20)]
    },
}


def main(count: int = 3000) -> None:
    header("envelope sign / verify")
    for label, payload in PAYLOADS.items():
        now = time.time_ns() // 1_000_000
        budget = env.make_budget(max_tokens=10_000, max_usd=2.5)

        def seal(seq: int, payload: object = payload, now: int = now, budget: env.Budget = budget) -> dict:
            return env.seal(
                KEY,
                message_id=env.new_id(),
                message_type="task-assignment",
                source="a" * 32,
                target="b" * 32,
                session="s" * 64,
                seq=seq,
                now_ms=now,
                budget=budget,
                hops=["a" * 32],
                payload=payload,
            )

        sealed = [seal(i) for i in range(count)]
        unsigned = canonical_json({k: v for k, v in sealed[0].items() if k != "mac"})
        print(f"## {label}: {len(unsigned)} canonical bytes")

        def raw_hmac(data: bytes = unsigned) -> None:
            for _ in range(count):
                hmac.new(KEY, data, hashlib.sha256).hexdigest()

        def sign_only() -> None:
            for i in range(count):
                seal(i)

        def verify_only(sealed: list = sealed, now: int = now) -> None:
            for document in sealed:
                env.open_envelope(document, key_for=lambda e: KEY, audience="b" * 32, now_ms=now)

        def sign_and_verify(now: int = now) -> None:
            for i in range(count):
                env.open_envelope(seal(i), key_for=lambda e: KEY, audience="b" * 32, now_ms=now)

        ceiling = rate("raw HMAC-SHA256 of the same bytes", count, raw_hmac)
        rate("seal (canonical JSON x2 + digest + HMAC)", count, sign_only)
        rate("open (schema, MAC, digest, clock, route)", count, verify_only)
        both = rate("seal + open", count, sign_and_verify)
        print(f"{'  seal + open as a share of raw HMAC':<44} {both / ceiling:>12.1%}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
