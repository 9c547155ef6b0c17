"""RFC 8785 (JSON Canonicalization Scheme) in one place.

Everything we sign or hash — manifests, audit records, later envelopes — goes through
`canonical_json`, so two implementations agree on the exact bytes.
"""

from __future__ import annotations

from typing import Any

import rfc8785


class CanonicalJSONError(ValueError):
    """The value cannot be represented canonically (NaN, huge integers, non-JSON types)."""


def canonical_json(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(str(exc)) from exc
