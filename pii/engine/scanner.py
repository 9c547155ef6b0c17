"""The scanner: Hyperscan prefilter, precise ``re`` matching in small windows, validators, overlap resolution.

Hyperscan runs every rule's prefilters over the text in one pass and reports where each rule
could match; the rule's own regex then runs only inside those windows (see :mod:`pii.engine.rules`
for the contract that makes the windowed result identical to a full-text ``re`` scan). Without
Hyperscan (``engine="re"``, or the wheel missing) every rule scans the whole text: slower, same
answers, which the differential test checks.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pii.engine.keyed import STRUCTURED_RULES
from pii.engine.resolve import resolve
from pii.engine.rules import ANCHOR_REACH, LOOKAHEAD, Rule
from pii.engine.types import TYPES, Detection, ScanError

try:
    import hyperscan
except ImportError:  # pragma: no cover - the wheel is a dependency; this keeps odd platforms working
    hyperscan = None

DEFAULT_MAX_CHARS = 16 * 1024 * 1024
DEFAULT_FLOOR = 0.2
ENGINES = ("auto", "hyperscan", "re")

Finder = Callable[[str], list[Detection]]


def _optional_finder(module: str, name: str) -> Finder | None:
    """``module.name`` if that module exists, else None (that type then yields nothing).

    The person-name and street-address detectors live in their own modules, developed separately;
    a missing module must not take the structured detectors down. Any other import error raises.
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    finder = getattr(mod, name)
    return finder if callable(finder) else None


# --------------------------------------------------------------------------------------------
# Hyperscan database: compiled once per process and rule set, with one scratch space per thread


class _Prefilter:
    """The compiled Hyperscan database for a rule set and the per-pattern window arithmetic."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        assert hyperscan is not None
        # One Hyperscan id per distinct (expression, flags); each id lists the rules it reports for as
        # (rule index, chars before, chars after, SOM?). Duplicates also slow Hyperscan down noticeably.
        ids: dict[tuple[str, int], int] = {}
        self.targets: list[list[tuple[int, int, int, bool]]] = []
        for ri, rule in enumerate(rules):
            for pf in rule.prefilters:
                flag = (hyperscan.HS_FLAG_CASELESS if pf.caseless else 0) | (
                    hyperscan.HS_FLAG_SOM_LEFTMOST if pf.som else 0
                )
                pid = ids.setdefault((pf.expression, flag), len(ids))
                if pid == len(self.targets):
                    self.targets.append([])
                self.targets[pid].append((ri, pf.before, pf.after, pf.som))
        expressions = [expr.encode("ascii") for expr, _ in ids]
        self.database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=[flag for _, flag in ids],
        )
        self._local = threading.local()

    def scratch(self) -> Any:
        """This thread's scratch space (Hyperscan scratch must not be shared between concurrent scans)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self.database)
            self._local.scratch = scratch
        return scratch

    def windows(self, data: bytes, n: int) -> dict[int, list[Window]]:
        """For each rule (by index) that may match, the windows where it may (see :data:`Window`)."""
        hits: list[tuple[int, int, int]] = []
        append = hits.append

        def on_match(pid: int, start: int, end: int, flags: int, context: object) -> None:
            append((pid, start, end))

        self.database.scan(data, match_event_handler=on_match, scratch=self.scratch())
        per_rule: dict[int, list[tuple[int, int, int]]] = {}
        targets = self.targets
        for pid, start, end in hits:
            for ri, before, after, som in targets[pid]:
                # A match starts at most `before` ahead of the report and no later than it (its start with SOM).
                at = start if som else end
                lo = at - before
                spans = per_rule.get(ri)
                if spans is None:
                    spans = per_rule[ri] = []
                spans.append((lo if lo > 0 else 0, at, end + after))
        return {ri: _merge(spans, n) for ri, spans in sorted(per_rule.items())}


Window = tuple[int, list[tuple[int, int]]]
"""``(stop, starts)``: matches start inside one of the sorted ``starts`` ranges ``(lo, hi)`` and end by ``stop``."""


def _merge(spans: list[tuple[int, int, int]], n: int) -> list[Window]:
    """Merge hit extents ``(lo, at, hi)`` that overlap into windows; within one, merge the start ranges ``[lo, at]``."""
    out: list[Window] = []
    if not spans:
        return out
    spans.sort()
    starts: list[tuple[int, int]] = []
    stop = -1
    for lo, at, hi in spans:
        if starts and lo > stop:
            # This extent overlaps none before it: no match can straddle `lo`, a new window begins.
            out.append((min(stop, n), starts))
            starts = []
        if starts and lo <= starts[-1][1] + 1:
            if at > starts[-1][1]:
                starts[-1] = (starts[-1][0], at)
        else:
            starts.append((lo, at))
        stop = max(stop, hi)
    out.append((min(stop, n), starts))
    return out


_PREFILTERS: dict[tuple[str, ...], _Prefilter] = {}
_PREFILTERS_LOCK = threading.Lock()


def _prefilter_for(rules: Sequence[Rule]) -> _Prefilter:
    key = tuple(rule.name for rule in rules)
    with _PREFILTERS_LOCK:
        pf = _PREFILTERS.get(key)
        if pf is None:
            pf = _PREFILTERS[key] = _Prefilter(rules)
        return pf


# --------------------------------------------------------------------------------------------
# Windowed matching (the same code serves the full-text path: one window over everything)


def _ascii_lower(chunk: str) -> str:
    """``chunk`` lower-cased with offsets unchanged (anchors only look for ASCII, so other letters may fold too)."""
    low = chunk.lower()
    # A few characters lower-case to two ("İ"): then fold ASCII only, slower but length-preserving.
    return low if len(low) == len(chunk) else chunk.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _iter_matches(
    rule: Rule, text: str, starts: list[tuple[int, int]], endpos: int, lowered: str | None = None
) -> Iterator[Any]:
    """What ``rule.regex.finditer(text, …, endpos)`` yields for matches starting inside ``starts``.

    Without an anchor, ``finditer`` runs from each range; with one, ``regex.match`` is only tried
    where the anchor matches the lower-cased text (``lowered``, the whole text lower-cased, when
    the caller has it; else each range is lower-cased on its own). Either way a match consumes the
    text it spans, exactly as in a scan of the whole text.
    """
    regex, anchor = rule.regex, rule.anchor
    pos = 0
    for lo, hi in starts:
        if pos > hi:
            continue
        lo = max(lo, pos)
        if anchor is None:
            for m in regex.finditer(text, lo, endpos):
                if m.start() > hi:
                    break
                yield m
                pos = m.end()
            continue
        if lowered is None:
            base = lo
            low = _ascii_lower(text[base : min(endpos, hi + ANCHOR_REACH)])
        else:
            base, low = 0, lowered
        search, match = anchor.search, regex.match
        i, last = lo - base, hi - base
        while i <= last:
            a = search(low, i)
            if a is None or a.start() > last:
                break
            at = base + a.start()
            m = match(text, at, endpos)
            if m is None:
                i = a.start() + 1
                continue
            yield m
            pos = m.end()
            i = pos - base


def _window_matches(rule: Rule, text: str, window: Window, n: int, lowered: str | None = None) -> list[Any]:
    """Matches of ``rule`` starting in the window's ranges; by the prefilter contract they end by its stop."""
    stop, starts = window
    endpos = min(n, stop + LOOKAHEAD)
    found = list(_iter_matches(rule, text, starts, endpos, lowered))
    if found and found[-1].end() > stop and endpos < n:
        # Only a cut-off lookahead or quantifier can end a match past the window: redo with room to spare.
        found = list(_iter_matches(rule, text, starts, min(n, starts[-1][1] + rule.reach + LOOKAHEAD), lowered))
    return found


# --------------------------------------------------------------------------------------------
# The scanner


class Scanner:
    """Finds PII in text. Build once and reuse: construction compiles the Hyperscan database (cached per process).

    ``engine``: "auto" (Hyperscan when importable), "hyperscan" (required) or "re" (pure Python).
    ``types``: restrict detection to these types (default: all 14).
    ``floor``: candidates below this confidence are dropped before overlap resolution.
    """

    def __init__(
        self,
        engine: str = "auto",
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        floor: float = DEFAULT_FLOOR,
        types: Iterable[str] | None = None,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if engine == "hyperscan" and hyperscan is None:
            raise ValueError("engine='hyperscan' but the hyperscan module is not installed")
        wanted = frozenset(TYPES if types is None else types)
        unknown = wanted - set(TYPES)
        if unknown:
            raise ValueError(f"unknown PII types: {sorted(unknown)}")
        self.types = wanted
        self.engine = "re" if engine == "re" or hyperscan is None else "hyperscan"
        self.max_chars = max_chars
        self.floor = floor
        self.rules: tuple[Rule, ...] = tuple(r for r in STRUCTURED_RULES if wanted.intersection(r.types))
        self._prefilter = _prefilter_for(self.rules) if self.engine == "hyperscan" and self.rules else None
        self._finders: list[Finder] = []
        if "person_name" in wanted:
            finder = _optional_finder("pii.engine.names", "find_person_names")
            if finder:
                self._finders.append(finder)
        if "street_address" in wanted:
            finder = _optional_finder("pii.engine.addresses", "find_street_addresses")
            if finder:
                self._finders.append(finder)

    def scan(self, text: str) -> list[Detection]:
        """Non-overlapping detections in ``text``, sorted by start; offsets are Python ``str`` offsets."""
        if not isinstance(text, str):
            raise ScanError("NOT_TEXT", f"expected str, got {type(text).__name__}")
        if len(text) > self.max_chars:
            raise ScanError("TOO_LARGE", f"text has {len(text)} characters; the limit is {self.max_chars}")
        if not text:
            return []
        candidates = self.candidates(text)
        for finder in self._finders:
            candidates.extend(d for d in finder(text) if d.confidence >= self.floor and d.type in self.types)
        return resolve(candidates)

    def candidates(self, text: str) -> list[Detection]:
        """Every structured detection above the floor, before overlap resolution (for tests and tuning)."""
        n = len(text)
        out: list[Detection] = []
        if self._prefilter is not None:
            # Hyperscan sees bytes: one byte per character (non-ASCII → '?') keeps offsets equal to str offsets.
            data = text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")
            windows = self._prefilter.windows(data, n)
            lowered = None  # windows are small: each is lower-cased on its own
        else:
            windows = {ri: [(n, [(0, n)])] for ri in range(len(self.rules))}
            lowered = _ascii_lower(text)  # one copy for every anchored rule
        floor, types, rules = self.floor, self.types, self.rules
        for ri, spans in windows.items():
            rule = rules[ri]
            build = rule.build
            for window in spans:
                for m in _window_matches(rule, text, window, n, lowered):
                    found = build(text, m)
                    if found is None:
                        continue
                    for det in (found,) if isinstance(found, Detection) else found:
                        if det.confidence >= floor and det.type in types:
                            out.append(det)
        return out


_DEFAULT: Scanner | None = None
_DEFAULT_LOCK = threading.Lock()


def default_scanner() -> Scanner:
    """The shared scanner with default settings, built on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Scanner()
    return _DEFAULT


def scan(text: str) -> list[Detection]:
    """Detections in ``text`` with the shared default :class:`Scanner`."""
    return default_scanner().scan(text)
