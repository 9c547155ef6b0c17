"""`{"id", "text"}` items in, one result per item out: shared by `federation pii scan` and the REST
API. A bad item gets an error object for its id; the others carry on."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pii import services
from pii.engine import ScanError
from pii.engine.pipeline import Hasher

MAX_TEXT_CHARS = 16 * 1024 * 1024


def _error(item_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": item_id, "error": {"code": code, "message": message}}


def _id_of(item: Any) -> Any:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def handle_item(item: Any, *, tier: int | None = None, hasher: Hasher | None = None) -> dict[str, Any]:
    """Detections for one item, or (with ``tier``) its text transformed by that tier's policy."""
    item_id = _id_of(item)
    if not isinstance(item, dict):
        return _error(None, "SCHEMA_INVALID", "each item is a JSON object with an id and a text")
    text = item.get("text")
    if not isinstance(text, str):
        return _error(item_id, "SCHEMA_INVALID", '"text" must be a string')
    if len(text) > MAX_TEXT_CHARS:
        return _error(item_id, "TOO_LARGE", f"the text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    try:
        if tier is None:
            found = services.detect(text)
            return {"id": item_id, "detections": [d.as_json() for d in found]}
        outcome = services.transform(text, tier=tier, hasher=hasher)
    except ScanError as exc:
        return _error(item_id, exc.code, exc.message)
    if outcome.blocked:
        return {"id": item_id, "text": None, "blocked": outcome.blocked, "pii": outcome.summary()}
    return {"id": item_id, "text": outcome.payload, "pii": outcome.summary()}


def handle_line(raw: bytes, *, tier: int | None = None, hasher: Hasher | None = None) -> dict[str, Any] | None:
    """One line of JSON lines input; None for a blank line (nothing to answer)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(None, "INVALID_UTF8", f"the line is not UTF-8 (byte {exc.start})")
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return _error(None, "MALFORMED_JSON", f"not JSON: {str(exc)[:200]}")
    return handle_item(item, tier=tier, hasher=hasher)


def handle_lines(
    lines: Iterable[bytes], *, tier: int | None = None, hasher: Hasher | None = None
) -> Iterator[dict[str, Any]]:
    for raw in lines:
        result = handle_line(raw, tier=tier, hasher=hasher)
        if result is not None:
            yield result


class Tally:
    """What an audit event may say about a batch: counts only, never text."""

    def __init__(self) -> None:
        self.items = self.errors = 0
        self.types: Counter[str] = Counter()

    def add(self, result: dict[str, Any]) -> dict[str, Any]:
        self.items += 1
        self.errors += "error" in result
        for detection in result.get("detections", ()):
            self.types[detection["type"]] += 1
        for pii_type, finding in result.get("pii", {}).items():
            self.types[pii_type] += finding["count"]
        return result

    def as_json(self) -> dict[str, Any]:
        return {"items": self.items, "errors": self.errors, "types": dict(sorted(self.types.items()))}
