"""What a detector is: a precise ``re`` pattern, a validator that scores its matches, and Hyperscan prefilters.

The scanner runs a rule's ``regex`` only near places where one of its ``prefilters`` matched, so
the prefilters carry a contract the differential test checks (Hyperscan path == pure-``re`` path):

* every match of ``regex`` (accepted by ``build`` or not) contains the end offset ``h`` of some
  prefilter match (its start offset ``f`` too when ``som``); with ``r = f if som else h``:
  ``r - before <= match.start <= r`` and ``match.end <= h + after``;
* prefilters are matched against the text with every non-ASCII character replaced by ``?``, so
  they may only rely on ASCII parts of a match;
* ``regex`` looks at most ``LOOKAHEAD`` characters past the end of a match (lookaheads, ``\\b``).

With ``anchor`` set, the scanner only tries ``regex`` where ``anchor`` matches instead of at every
position. An anchor is a case-sensitive pattern without lookarounds that runs on the text with
ASCII letters lower-cased (Python's case-insensitive search is ~50x slower); it must match, within
``ANCHOR_REACH`` characters, wherever a match of ``regex`` can start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pii.engine.types import Detection

# How far past a match end any rule's regex may look (lookaheads): windows extend this much further.
LOOKAHEAD = 48
# How far an anchor pattern may look from where it starts (keywords, prefixes).
ANCHOR_REACH = 64


@dataclass(frozen=True, slots=True)
class Prefilter:
    """One Hyperscan expression and where, relative to its report, a match of the rule can lie."""

    expression: str
    before: int
    after: int
    som: bool = False  # report start of match too (HS_FLAG_SOM_LEFTMOST): tighter windows
    caseless: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """A detector: ``build(text, match)`` validates and scores one ``regex`` match: a detection, several, or None."""

    name: str
    types: tuple[str, ...]
    regex: re.Pattern[str]
    build: Callable[[str, re.Match[str]], Detection | list[Detection] | None]
    prefilters: tuple[Prefilter, ...]
    reach: int  # the longest text a regex match can span (used only to re-scan with room to spare)
    anchor: re.Pattern[str] | None = None


def detection(typ: str, start: int, end: int, confidence: float, detector: str) -> Detection:
    """A Detection with the confidence clamped to [0, 1]."""
    return Detection(typ, start, end, min(1.0, max(0.0, confidence)), detector)
