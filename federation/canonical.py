"""RFC 8785 (JSON Canonicalization Scheme) in one place.

Everything we sign or hash — manifests, audit records, envelopes — goes through
`canonical_json`, so two implementations agree on the exact bytes.

The `rfc8785` package is the reference here. For the common shape of our documents (ASCII
member names, integers within ±2^53, plain decimal fractions) the standard library's encoder
with sorted keys produces the same bytes several times faster: sorting ASCII names by code point
equals sorting by UTF-16 code units, and both escape exactly `"`, `\\` and control characters
(with the same short forms and lowercase `\\u00xx`). Anything else — an integral or
exponent-sized float, a non-ASCII member name, a lone surrogate, a huge integer — takes the
reference path. `tests/test_canonical.py` checks that the two agree on generated documents.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INTEGER = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


class CanonicalJSONError(ValueError):
    """The value cannot be represented canonically (NaN, huge integers, non-JSON types)."""


def _fast_path_applies(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                return False
        elif isinstance(item, dict):
            for key in item:
                if not (isinstance(key, str) and key.isascii()):
                    return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            # Both print the shortest round-trip digits; they agree on the notation only for
            # non-integral magnitudes in [1e-4, 1e16), where both write plain decimals.
            if not (1e-4 <= abs(item) < 1e16 and not item.is_integer()):
                return False
        else:  # tuples, decimals, anything else: the reference implementation decides
            return False
    return True


def canonical_json(value: Any) -> bytes:
    if _fast_path_applies(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference implementation say what it thinks
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(str(exc)) from exc
