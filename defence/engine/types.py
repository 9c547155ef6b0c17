"""What a defence verdict is. Pure Python: no Django imports anywhere under ``defence.engine``.

This module is the contract between the engine (``defence.engine``), the gates (``defence``
Django app), the CLI, the REST API and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The canonical threat categories (MISSION §5), used in policies, verdicts, the CLI and the REST API.
CATEGORIES: tuple[str, ...] = (
    "prompt_injection",  # instruction override: "ignore previous instructions", injected tasks in data
    "jailbreak",  # role-play, "developer mode", DAN, persona switches that lift the rules
    "secret_exfiltration",  # asks for the system prompt, hidden instructions, keys, credentials
    "tool_injection",  # shell, SQL or code aimed at an agent's tools
    "data_exfiltration",  # send / post / upload data to a URL or address, markdown image beacons
)

# A verdict is a threat when any category's score reaches its threshold (per category, calibrated
# by the Django side from analysts' feedback; this is the engine's default).
DEFAULT_THRESHOLD = 0.5


class DefenceError(ValueError):
    """Input the engine refuses to analyse (``code``: TOO_LARGE, TOO_DEEP, NOT_TEXT)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a category scored: a span of the original text (Python string offsets) and what it matched.

    ``layer`` says where the evidence was found: "text" for the text as written, otherwise the
    hiding place it was recovered from ("base64", "hex", "url", "rot13", "html_comment",
    "markdown_link", "json", "zero_width", …); the span is then the whole hidden region. ``path``
    is the JSON path (``$.task.notes[2]``) when the input was a structured payload.
    """

    category: str
    start: int
    end: int
    detector: str
    weight: float
    layer: str = "text"
    path: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "detector": self.detector,
            "weight": round(self.weight, 3),
            "layer": self.layer,
        }
        if self.path:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class Verdict:
    """The engine's judgement of one text or payload.

    ``scores`` has every category (0..1); ``categories`` are those at or above their threshold;
    ``threat`` is true when there is at least one. ``signals`` are facts from normalisation that are
    not threats by themselves ("zero_width_stripped", "bidi_control", "confusables_folded",
    "base64_decoded", "decode_depth_limit", …); ``obfuscated`` is true when evidence came from a
    hidden or encoded layer. ``fingerprint`` is a SHA-256 hex digest of the normalised text, stable
    across spellings the normalisation folds, used for analysts' allow-lists.
    """

    threat: bool
    score: float
    categories: tuple[str, ...]
    scores: dict[str, float]
    evidence: tuple[Evidence, ...] = ()
    signals: tuple[str, ...] = ()
    obfuscated: bool = False
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "threat": self.threat,
            "score": round(self.score, 3),
            "categories": list(self.categories),
            "scores": {c: round(s, 3) for c, s in self.scores.items()},
            "evidence": [e.as_json() for e in self.evidence],
            "signals": list(self.signals),
            "obfuscated": self.obfuscated,
            "fingerprint": self.fingerprint,
        }
