"""Weigh the evidence in a text or structured payload into a :class:`Verdict`."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterator
from typing import Any

from .normalise import MAX_DECODED_CHARS, Layer, collapse_whitespace, hidden_layers, view
from .prefilter import RuleIndex
from .rules import (
    BACKTICKS,
    CODE_FENCE,
    EMBEDDED_REQUEST_WEIGHT,
    QUOTED,
    REPORTED_SPEECH,
    RULES,
    Rule,
    embedded_request,
    present_needs,
)
from .types import CATEGORIES, DEFAULT_THRESHOLD, DefenceError, Evidence, Verdict

MAX_INPUT_CHARS = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_EVIDENCE = 32

# Damping factors: a match quoted inside a sentence that reports on attacks, or inside a code
# block that nobody asks the agent to use, is discussion, not an attack.
QUOTED_REPORT_DAMPING = 0.3
REPORT_DAMPING = 0.55
CODE_DAMPING = 0.35
_CODE_CATEGORIES = frozenset({"tool_injection", "data_exfiltration"})
EMBEDDED_REQUEST_RULE = Rule(
    "embedded_request", "prompt_injection", EMBEDDED_REQUEST_WEIGHT, re.compile(""), (), "embedded_request"
)
# Rules whose match asks the agent to use quoted code: quoting then does not damp.
DIRECTIVES = frozenset({"code_insert", "run_this", "run_quoted"})
_DIRECTIVE_RULES = tuple((i, r) for i, r in enumerate(RULES) if r.id in DIRECTIVES)
# Which rules can match a text at all: most texts need only a few of the rules' regexes run.
_RULE_INDEX = RuleIndex([rule.pattern for rule in RULES])


def _strings(payload: Any) -> Iterator[tuple[str, str]]:
    """Every string of a JSON-like payload (values and keys) with its JSON path; iterative."""
    if isinstance(payload, str):
        yield "", payload
        return
    stack: list[tuple[Any, str, int]] = [(payload, "$", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            if depth >= MAX_DEPTH:
                raise DefenceError("TOO_DEEP", f"payload nests deeper than {MAX_DEPTH} levels")
            for key, value in reversed(list(node.items())):
                if not isinstance(key, str):
                    raise DefenceError("NOT_TEXT", f"object key at {path} is not a string")
                child = f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"
                stack.append((value, child, depth + 1))
                stack.append((key, f"{child}#key", depth + 1))
        elif isinstance(node, list | tuple):
            if depth >= MAX_DEPTH:
                raise DefenceError("TOO_DEEP", f"payload nests deeper than {MAX_DEPTH} levels")
            for i in range(len(node) - 1, -1, -1):
                stack.append((node[i], f"{path}[{i}]", depth + 1))
        elif node is None or isinstance(node, bool | int | float):
            continue
        else:
            raise DefenceError("NOT_TEXT", f"{type(node).__name__} at {path} is not JSON")


def _spans(pattern: Any, text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(text)] if text else []


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    i = bisect.bisect_right(starts, pos) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


class _Tally:
    """Best weight per (category, rule) and the evidence behind it."""

    def __init__(self) -> None:
        self.best: dict[tuple[str, str], float] = {}
        self.evidence: list[Evidence] = []
        self.obfuscated = False

    def add(self, rule: Rule, weight: float, start: int, end: int, layer: str, path: str, folded: bool) -> None:
        key = (rule.category, rule.group)
        if weight > self.best.get(key, 0.0):
            self.best[key] = weight
        if layer not in ("text", "json") or folded:
            self.obfuscated = True
        if len(self.evidence) < MAX_EVIDENCE:
            self.evidence.append(Evidence(rule.category, start, end, rule.id, weight, layer, path))

    def scores(self) -> dict[str, float]:
        remaining = dict.fromkeys(CATEGORIES, 1.0)
        for (category, _), weight in self.best.items():
            remaining[category] *= 1.0 - weight
        return {c: round(1.0 - r, 4) for c, r in remaining.items()}


class Analyser:
    """Stateless and thread-safe; one instance serves every message."""

    def analyse(self, payload: Any, *, thresholds: dict[str, float] | None = None) -> Verdict:
        signals: set[str] = set()
        if isinstance(payload, bytes | bytearray | memoryview):
            raw = bytes(payload)
            if len(raw) > MAX_INPUT_CHARS * 4:
                raise DefenceError("TOO_LARGE", f"message is larger than {MAX_INPUT_CHARS} characters")
            payload = raw.decode("utf-8", errors="replace")
            if "\ufffd" in payload and b"\xef\xbf\xbd" not in raw:
                signals.add("invalid_utf8")
        if not isinstance(payload, str | dict | list | tuple):
            raise DefenceError("NOT_TEXT", f"cannot analyse a {type(payload).__name__}")
        tally = _Tally()
        digest = hashlib.sha256()
        total = 0
        budget = [MAX_DECODED_CHARS]
        for path, text in _strings(payload):
            total += len(text)
            if total > MAX_INPUT_CHARS:
                raise DefenceError("TOO_LARGE", f"message is larger than {MAX_INPUT_CHARS} characters")
            if text:
                self._scan(text, path, tally, signals, budget, digest)
        scores = tally.scores()
        limits = dict.fromkeys(CATEGORIES, DEFAULT_THRESHOLD)
        if thresholds:
            limits.update({c: float(t) for c, t in thresholds.items() if c in limits})
        categories = tuple(c for c in CATEGORIES if scores[c] >= limits[c] and scores[c] > 0)
        evidence = tuple(sorted(tally.evidence, key=lambda e: (e.path, e.start, -e.weight)))
        return Verdict(
            threat=bool(categories),
            score=max(scores.values()),
            categories=categories,
            scores=scores,
            evidence=evidence,
            signals=tuple(sorted(signals)),
            obfuscated=tally.obfuscated and bool(categories),
            fingerprint=digest.hexdigest(),
        )

    def _scan(self, text: str, path: str, tally: _Tally, signals: set[str], budget: list[int], digest: Any) -> None:
        v = view(text)
        signals |= v.signals
        digest.update(collapse_whitespace(v.text).strip().encode("utf-8", "surrogatepass") + b"\x1f")
        self._rules(v.text, path, tally, damp=True, layer="text", view_=v)
        found = embedded_request(v.text)
        if found is not None:
            start, end = v.to_original(*found)
            tally.add(EMBEDDED_REQUEST_RULE, EMBEDDED_REQUEST_WEIGHT, start, end, "text", path, False)
        layers: list[Layer] = list(v.layers)
        layers += hidden_layers(text, budget, signals)
        for layer in layers:
            inner = view(layer.text)
            signals |= inner.signals
            # A JSON document inside a string is structure, not a hiding place: judged like text.
            damp = layer.kind == "json"
            self._rules(inner.text, path, tally, damp=damp, layer=layer.kind, span=(layer.start, layer.end))

    def _rules(
        self,
        text: str,
        path: str,
        tally: _Tally,
        *,
        damp: bool,
        layer: str,
        view_: Any = None,
        span: tuple[int, int] | None = None,
    ) -> None:
        quotes = fences = None
        quote_starts: list[int] = []
        fence_starts: list[int] = []
        report = None
        directive: bool | None = None  # decided on the first fenced code-category match
        present = present_needs(text)
        if not present:
            return
        possible = _RULE_INDEX.candidates(text)

        def may_match(i: int, rule: Rule) -> bool:
            return not present.isdisjoint(rule.needs) and (possible is None or i in possible)

        for i in range(len(RULES)) if possible is None else sorted(possible):  # rule order kept
            rule = RULES[i]
            if present.isdisjoint(rule.needs):
                continue
            for m in rule.pattern.finditer(text):
                weight = rule.weight
                if damp:
                    if quotes is None:
                        quotes = _spans(QUOTED, text)
                        fences = _spans(CODE_FENCE, text) + _spans(BACKTICKS, text)
                        fences.sort()
                        report = REPORTED_SPEECH.search(text) is not None
                        quote_starts = [s for s, _ in quotes]
                        fence_starts = [s for s, _ in fences]
                    pos = m.start()
                    quoted = _inside(quotes, quote_starts, pos)
                    if quoted and report:
                        weight *= QUOTED_REPORT_DAMPING
                    elif report and _reported_sentence(text, pos):
                        weight *= REPORT_DAMPING
                    if rule.category in _CODE_CATEGORIES and _inside(fences, fence_starts, pos):
                        if directive is None:  # most texts never get here: the search is worth deferring
                            directive = any(r.pattern.search(text) for i, r in _DIRECTIVE_RULES if may_match(i, r))
                        if not directive:
                            weight *= CODE_DAMPING
                if span is None:
                    start, end = view_.to_original(m.start(), m.end())
                    folded = any(s < m.end() and m.start() < e for s, e in view_.folded_spans) or not view_.identity
                else:
                    (start, end), folded = span, layer != "json"
                tally.add(rule, weight, start, end, layer, path, folded)
                break  # one match per rule and string: evidence, not a count


def _reported_sentence(text: str, pos: int) -> bool:
    """Whether the sentence around ``pos`` reports on something rather than asks for it."""
    lo = max(text.rfind(".", 0, pos), text.rfind("\n", 0, pos), pos - 200)
    hi = text.find(".", pos)
    hi = min(hi if hi != -1 else len(text), pos + 200)
    return REPORTED_SPEECH.search(text, lo + 1, hi) is not None
