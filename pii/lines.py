"""PII results for `{"id", "text"}` items (``federation.jsonlines``): shared by `federation pii scan`
and the REST API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from federation import jsonlines
from pii import services
from pii.engine import ScanError
from pii.engine.pipeline import Hasher


def handle_item(item: Any, *, tier: int | None = None, hasher: Hasher | None = None) -> dict[str, Any]:
    """Detections for one item, or (with ``tier``) its text transformed by that tier's policy."""
    checked = jsonlines.text_of(item)
    if isinstance(checked, dict):
        return checked
    item_id, text = checked
    try:
        if tier is None:
            found = services.detect(text)
            return {"id": item_id, "detections": [d.as_json() for d in found]}
        outcome = services.transform(text, tier=tier, hasher=hasher)
    except ScanError as exc:
        return jsonlines.error(item_id, exc.code, exc.message)
    if outcome.blocked:
        return {"id": item_id, "text": None, "blocked": outcome.blocked, "pii": outcome.summary()}
    return {"id": item_id, "text": outcome.payload, "pii": outcome.summary()}


def handle_lines(
    lines: Iterable[bytes], *, tier: int | None = None, hasher: Hasher | None = None
) -> Iterator[dict[str, Any]]:
    return jsonlines.handle_lines(lines, partial(handle_item, tier=tier, hasher=hasher))


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
