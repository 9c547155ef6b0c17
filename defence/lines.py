"""AI-defence verdicts for `{"id", "text"}` items (``federation.jsonlines``): shared by
`federation defence scan` and `POST /api/v1/defence/scan`. Verdicts use the node's thresholds in
force (policies raised by calibration), so a scan says what the gates would see."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from defence import services
from defence.engine import DefenceError
from federation import jsonlines


def handle_item(item: Any, *, cfg: services.Config, tier: int | None = None, explain: bool = False) -> dict[str, Any]:
    """``{"id", "threat", "score", "categories"}``; with ``tier`` the gate's action for a peer of
    that tier too (allow-list included), with ``explain`` the evidence spans."""
    checked = jsonlines.text_of(item)
    if isinstance(checked, dict):
        return checked
    item_id, text = checked
    try:
        verdict = services.analyser().analyse(text, thresholds=cfg.thresholds)
    except DefenceError as exc:
        return jsonlines.error(item_id, exc.code, exc.message)
    result: dict[str, Any] = {
        "id": item_id,
        "threat": verdict.threat,
        "score": round(verdict.score, 4),
        "categories": list(verdict.categories),
    }
    if verdict.obfuscated:
        result["obfuscated"] = True
    if tier is not None:
        result["action"] = services.decide(verdict, tier=tier, cfg=cfg).action
    if explain:
        result["evidence"] = [e.as_json() for e in verdict.evidence]
        result["signals"] = list(verdict.signals)
    return result


def handle_lines(
    lines: Iterable[bytes], *, cfg: services.Config, tier: int | None = None, explain: bool = False
) -> Iterator[dict[str, Any]]:
    return jsonlines.handle_lines(lines, partial(handle_item, cfg=cfg, tier=tier, explain=explain))


class Tally:
    """What an audit event may say about a batch: counts only, never text."""

    def __init__(self) -> None:
        self.items = self.errors = self.threats = 0
        self.categories: Counter[str] = Counter()

    def add(self, result: dict[str, Any]) -> dict[str, Any]:
        self.items += 1
        self.errors += "error" in result
        self.threats += bool(result.get("threat"))
        self.categories.update(result.get("categories", ()))
        return result

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "errors": self.errors,
            "threats": self.threats,
            "categories": dict(sorted(self.categories.items())),
        }
