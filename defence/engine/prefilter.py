"""Which rules could match a text, in one Hyperscan pass, so `re` runs only those.

Each rule's regex is rewritten into a *looser* Hyperscan expression: whatever text the Python
regex matches, the rewritten one matches too (it may also match more). Skipping a rule the index
does not report therefore never changes a verdict; the rule's own regex still decides.

The rewrite works on Python's parse of the pattern, not its text. Hyperscan's Unicode mode (UCP)
would take minutes to compile these rules, so the expressions use ASCII classes widened to stay
looser than Python's Unicode ones: ``\\w`` becomes ``[\\w\\x{80}-\\x{10ffff}]``, ``\\s`` also takes
``\\x1c-\\x1f`` (Python counts them as spaces), negated classes keep only what is surely inside
the Python class. Word boundaries, anchors and lookarounds are dropped (an assertion removed only
admits more), a back-reference becomes "anything", long bounded repeats lose their upper bound.
A construct the rewrite does not know leaves its rule out of the index: that rule always runs.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from re import _constants as C  # the parser's opcodes: stable across 3.11-3.13
from re import _parser
from typing import Any

try:  # the same optional module the needs index uses
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None

_ALL_NON_ASCII = r"\x{80}-\x{10ffff}"
# Looser than Python's class (for positive classes) ...
_SUPERSET = {
    C.CATEGORY_WORD: r"\w" + _ALL_NON_ASCII,
    C.CATEGORY_DIGIT: r"0-9" + _ALL_NON_ASCII,
    C.CATEGORY_SPACE: r"\s\x1c-\x1f" + _ALL_NON_ASCII,
    C.CATEGORY_NOT_WORD: r"\W",  # every ASCII non-word character and all of non-ASCII
    C.CATEGORY_NOT_DIGIT: r"\D",
    C.CATEGORY_NOT_SPACE: r"\S",
}
# ... and surely inside Python's class (what a negated class may exclude).
_SUBSET = {
    C.CATEGORY_WORD: r"\w",
    C.CATEGORY_DIGIT: r"0-9",
    C.CATEGORY_SPACE: r"\t\n\x0b\x0c\r\x1c-\x1f ",
    C.CATEGORY_NOT_WORD: r"\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f",
    C.CATEGORY_NOT_DIGIT: r"\x00-\x2f\x3a-\x7f",
    C.CATEGORY_NOT_SPACE: r"\x00-\x08\x0e-\x1b\x21-\x7f",
}
_DROPPED = (C.AT, C.ASSERT, C.ASSERT_NOT)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)
EXACT_REPEAT_LIMIT = 8  # longer bounded repeats are what makes compiling slow


class Unsupported(ValueError):
    """A construct the rewrite cannot loosen safely; the rule is left out of the index."""


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _class(items: list[tuple[Any, Any]]) -> str:
    negated = bool(items) and items[0][0] is C.NEGATE
    table = _SUBSET if negated else _SUPERSET
    parts = []
    for op, av in items[1:] if negated else items:
        if op is C.LITERAL:
            parts.append(_char(av))
        elif op is C.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is C.CATEGORY and av in table:
            parts.append(table[av])
        else:
            raise Unsupported(f"class item {op}")
    return ("[^" if negated else "[") + "".join(parts) + "]"


def _emit(items: Sequence[tuple[Any, Any]]) -> str:
    out = []
    for op, av in items:
        if op is C.LITERAL:
            out.append(_char(av))
        elif op is C.NOT_LITERAL:
            out.append(f"[^{_char(av)}]")
        elif op is C.ANY:
            out.append(".")  # compiled with DOTALL: looser than Python's "." without it
        elif op is C.IN:
            out.append(_class(av))
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(_emit(branch) for branch in av[1]) + ")")
        elif op is C.SUBPATTERN:
            _group, add_flags, _del_flags, inner = av
            if add_flags & (re.IGNORECASE | re.LOCALE | re.ASCII):
                raise Unsupported("inline flags")
            out.append(f"(?:{_emit(inner)})")
        elif op is C.ATOMIC_GROUP:
            out.append(f"(?:{_emit(av)})")
        elif op in _REPEATS:
            low, high, inner = av
            low = min(low, EXACT_REPEAT_LIMIT)
            bound = f"{low},{high}" if high <= EXACT_REPEAT_LIMIT else f"{low},"
            out.append(f"(?:{_emit(inner)}){{{bound}}}")
        elif op in _DROPPED:
            continue
        elif op is C.GROUPREF:
            out.append(".*")
        else:
            raise Unsupported(str(op))
    return "".join(out)


def hyperscan_expression(pattern: re.Pattern[str]) -> str:
    """A Hyperscan expression (UTF-8 mode, DOTALL, no UCP) matching at least what `pattern` matches."""
    if not isinstance(pattern.pattern, str):
        raise Unsupported("bytes pattern")
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    if parsed.state.flags & (re.IGNORECASE | re.LOCALE | re.ASCII):
        raise Unsupported("flags")
    return _emit(list(parsed))


_FLAGS = 0
if hyperscan is not None:
    _FLAGS = (
        hyperscan.HS_FLAG_PREFILTER
        | hyperscan.HS_FLAG_SINGLEMATCH
        | hyperscan.HS_FLAG_ALLOWEMPTY
        | hyperscan.HS_FLAG_UTF8
        | hyperscan.HS_FLAG_DOTALL
    )


class RuleIndex:
    """Built on first use (about a second), then shared by every thread; each thread scans with
    its own scratch space."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self.patterns = tuple(patterns)
        self.indexed: frozenset[int] = frozenset()
        self._database: Any = None
        self._built = False
        self._lock = threading.Lock()
        self._local = threading.local()

    def _build(self) -> None:
        with self._lock:
            if self._built:
                return
            expressions: dict[int, bytes] = {}
            for i, pattern in enumerate(self.patterns if hyperscan is not None else ()):
                try:
                    expressions[i] = hyperscan_expression(pattern).encode("ascii")
                except (Unsupported, re.error):
                    continue
            if expressions:
                self._database, self.indexed = self._compile_all(expressions)
            self._built = True

    @staticmethod
    def _compile(expressions: dict[int, bytes]) -> Any:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=list(expressions.values()),
            ids=list(expressions),
            elements=len(expressions),
            flags=[_FLAGS] * len(expressions),
        )
        return database

    def _compile_all(self, expressions: dict[int, bytes]) -> tuple[Any, frozenset[int]]:
        try:
            return self._compile(expressions), frozenset(expressions)
        except hyperscan.error:  # leave out what Hyperscan refuses: those rules always run
            kept = {}
            for i, expression in expressions.items():
                with contextlib.suppress(hyperscan.error):
                    self._compile({i: expression})
                    kept[i] = expression
            return (self._compile(kept) if kept else None), frozenset(kept)

    def candidates(self, text: str) -> frozenset[int] | None:
        """Indexes of the patterns that may match `text` plus those not indexed; None when every
        pattern must run (no Hyperscan, or a lone surrogate that is not valid UTF-8)."""
        if not self._built:
            self._build()
        if self._database is None:
            return None
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        found = set(range(len(self.patterns))) - self.indexed

        def on_match(pid: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(pid)

        self._database.scan(data, match_event_handler=on_match, scratch=scratch)
        return frozenset(found)
