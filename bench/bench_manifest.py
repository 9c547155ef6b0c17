"""Manifest sign and verify rates (pure crypto + RFC 8785 canonical JSON, no Django).

.venv/bin/python -m bench.bench_manifest [N]
"""

from __future__ import annotations

import datetime as dt
import sys

from bench.common import header, rate
from federation import crypto, manifest


def main(count: int = 2000) -> None:
    header("manifest sign / verify")
    key = crypto.generate_signing_key()
    now = dt.datetime.now(dt.UTC)
    arguments = {
        "key": key,
        "display_name": "bench node",
        "endpoints": {"base_url": "https://node.example:8443", "api": "https://node.example:8443/api/v1/"},
        "capabilities": ["discovery.manifest"],
        "compliance_modes": ["gdpr", "hipaa", "soc2"],
        "tls_cert_fingerprint": "sha256:" + "ab" * 32,
        "issued_at": now,
        "ttl": dt.timedelta(days=1),
    }
    document = manifest.build_manifest(**arguments)
    rate("manifest build + sign", count, lambda: [manifest.build_manifest(**arguments) for _ in range(count)])
    rate(
        "manifest verify (full checks)",
        count,
        lambda: [manifest.verify_manifest(document, now=now) for _ in range(count)],
    )
    rate("canonical JSON of a manifest", count, lambda: [manifest.signing_bytes(document) for _ in range(count)])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
