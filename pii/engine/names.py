"""Person names in free text, offline: token shape + name lists + a not-a-common-word check + context.

How it works (see ``data/README.md`` for the lists and their licences):

1. One Hyperscan pass over the UTF-8 bytes (``scan()``, shared with ``addresses.py``) finds every
   Title-case word (``Megan``, ``Šušulić``, ``McCray``; ALL-CAPS and CamelCase words are skipped as
   log / code noise), the name context phrases (``my name is``, ``Dear``, ``says``, ``author=``…) and
   the address anchors. The last scan is kept per thread, so the Scanner, which calls both detectors
   on the same string, pays for one pass.
2. One dictionary lookup per word, done with C-level ``map()`` calls, says what it is: given name (F),
   surname (L), common English word (C: "Will", "Mark", "White", "Rice"), stop word ("The", "My"),
   title (Mr, Dr…), name suffix (Jr, MD…), organisation / street / calendar word. Most words are
   common words and are dropped before any Python-level loop. Unknown capitalised words (U) may still
   be names ("Umkhayev") but need evidence: accents, surname endings, a middle initial, context.
3. Adjacent name-like words (one space, optional middle initials or particles such as "van", "de",
   hyphens, O'/D') form chunks. A chunk's confidence comes from its word kinds (a non-ambiguous given
   name followed by any capitalised word ≫ two ambiguous common words), plus context before/after,
   minus signals that it is code, an organisation or part of an address; names inside a detected
   street address ("Rua Victor Hugo 12", a city line) are dropped. A lone word needs a non-common
   given name or context. Lower-case names are only taken right after a strong context
   ("my name is vitoria", "mr. elliott").

Spans cover the whole name including middle initials and a trailing suffix ("Giovanna Rodrigues MD"),
never the title ("Mr."). ``confidence >= 0.5`` means "more likely a person's name than not".
All work happens on the UTF-8 bytes; only the final spans are mapped back to string offsets.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from pii.engine.types import Detection

try:  # Hyperscan is a dependency of the project; the pure-``re`` path keeps odd platforms working.
    import hyperscan
except ImportError:  # pragma: no cover - tests force the fallback through _FORCE_PURE_PYTHON
    hyperscan = None


def _words(text: str) -> list[str]:
    """A word list written as one string (easier to read and diff than a list literal)."""
    return text.split()


DATA_DIR = Path(__file__).with_name("data")
TYPE = "person_name"
MIN_CONFIDENCE = 0.5

# Tests flip this to exercise the pure-Python path; not a configuration knob.
_FORCE_PURE_PYTHON = False


# --------------------------------------------------------------------------------------------------
# Shared helpers (addresses.py uses them too)
# --------------------------------------------------------------------------------------------------


def load_list(name: str) -> frozenset[str]:
    """One entry per line; ``#`` lines are comments."""
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return frozenset(line.rstrip("\n") for line in handle if line.strip() and not line.startswith("#"))


def use_hyperscan() -> bool:
    return hyperscan is not None and not _FORCE_PURE_PYTHON


class HsMatcher:
    """A compiled Hyperscan database with one scratch space per thread (a scratch is not thread-safe)."""

    def __init__(self, patterns: list[tuple[bytes, int]]) -> None:
        assert hyperscan is not None
        self.db = hyperscan.Database()
        self.db.compile(
            expressions=[p for p, _ in patterns],
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[f for _, f in patterns],
        )
        self._local = threading.local()

    def scan_with(self, data: bytes, on_match: object) -> None:
        """Scan with a caller's callback ``on_match(id, start, end, flags, context)``."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.db)
        self.db.scan(data, match_event_handler=on_match, scratch=scratch)

    def scan(self, data: bytes) -> list[tuple[int, int, int]]:
        """All ``(pattern id, start, end)`` matches in end order; start is exact only for SOM patterns."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.db)
        hits: list[tuple[int, int, int]] = []
        append = hits.append

        def on_match(pid: int, start: int, end: int, _flags: int, _ctx: object) -> None:
            append((pid, start, end))

        self.db.scan(data, match_event_handler=on_match, scratch=scratch)
        return hits


def encode(text: str) -> bytes:
    """UTF-8 with a space sentinel on each side, so patterns can demand a non-word byte around a match."""
    return b" " + text.encode("utf-8", "surrogatepass") + b" "


def byte_to_char(data: bytes, offsets: Iterable[int]) -> dict[int, int]:
    """Map offsets into ``encode(text)`` (sentinel included) to ``text`` string offsets.

    Walks the sorted offsets once, decoding only the bytes between consecutive ones: linear in the
    text. Offsets must fall on character boundaries.
    """
    out: dict[int, int] = {}
    prev_b = 1
    prev_c = 0
    for off in sorted(set(offsets)):
        if off <= prev_b:
            out[off] = prev_c - (prev_b - off)  # only the leading sentinel lands here
            continue
        prev_c += len(data[prev_b:off].decode("utf-8", "surrogatepass"))
        prev_b = off
        out[off] = prev_c
    return out


def is_ascii_encoding(text: str, data: bytes) -> bool:
    return len(data) == len(text) + 2


# --------------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------------

F_FIRST = 1  # given name
F_LAST = 2  # surname
F_COMMON = 4  # common English word or a place: ambiguous alone
F_TITLE = 8  # Mr, Mrs, Dr…: context, never part of the span
F_SUFFIX = 16  # Jr, MD, PhD…: joins the span after a name
F_BLOCK = 32  # organisation / street / calendar / function words: never part of a name
F_PLACE_NEXT = 64  # a street type written before the name (Rua, Via, ul.): what follows is a street
F_MOSTLY_SURNAME = 256  # a given name, but far more common as a surname ("Davis", "Clark")
F_ORG = 512  # organisation word (Inc, Agency, Orchestra): a name-like chunk before it is an organisation

TITLES = _words(
    "mr mrs ms miss mx dr prof sir madam dame lady lord rev fr capt col gen lt sgt herr frau mme mlle "
    "monsieur madame señor señora sra srta hon mister pan pani"
)
SUFFIXES = _words("jr sr ii iii iv md dds phd mba esq cpa rn dvm jd llm msc bsc mph dmd")
# Function words and frequent capitalised non-names ("The", "My", "Bot:", "Date:"), including
# one- and two-letter words that the name lists contain as rare names ("In", "So", "An").
STOP_WORDS = _words(
    "a an the and or but nor of in on at to for from by with as into onto upon over under about after before "
    "my your his her its our their me we he she it they you i us him them this that these those there here is "
    "are was were be been being am do does did done has have had having will would shall should can could may "
    "might must not no yes so if then than also just only very too all any some each every what when where "
    "who whom whose why how which while though although because since until unless hello hi hey dear thanks "
    "thank please sorry ok okay oh ah wow well now today tomorrow yesterday bye doc docs mac meta que app "
    "apps api ui os pc tv dj mon tue wed thu fri sat sun feb apr jul aug sep sept oct nov dec bot user agent "
    "assistant system admin root guest date time phone email e-mail mail website web url address name names "
    "subject re fwd fw cc bcc attn ref id no nr tel fax mobile cell office home work new old big small first "
    "last next previous page item step part section chapter figure table monday tuesday wednesday thursday "
    "friday saturday sunday january february march july september october november december north south east "
    "west northern southern eastern western upper lower saint st san santa city county state province "
    "district republic kingdom island islands lake mount river true false none null nan undefined todo fixme "
    "note notes warning error info debug usage returns args kwargs raises example examples parameters yields "
    "attributes see also"
)
# Words that make a capitalised chunk an organisation rather than a person.
ORG_WORDS = _words(
    "inc incorporated llc llp ltd limited corp corporation company co group technologies technology tech "
    "systems solutions software labs laboratories partners associates holdings bank university college school "
    "institute foundation hospital clinic airlines airways motors industries international global consulting "
    "services agency media studios records press publishing trust fund capital ventures gmbh ag sa sarl bv nv "
    "plc pty oy ab kg spa srl orchestra band club team investments insurance analytics financial energy "
    "partners force"
)
# Tech / brand / place words that collide with the name lists and appear capitalised in agent traffic.
COMMON_EXTRAS = _words(
    "max min len ray rust ruby julia kotlin swift dart flask django celery redis kafka hadoop spark linux "
    "debian ubuntu fedora docker apache nginx jenkins github gitlab python java scala perl pascal ada lisp "
    "elixir erlang haskell jupyter pandas numpy sage bash zsh nano emacs vim amazon google apple oracle adobe "
    "tesla uber lyft slack zoom visa chase target walmart ford dell mercedes porsche ferrari lincoln jordan "
    "chad georgia israel kenya china india florence austin phoenix dallas houston denver boston paris london "
    "berlin sydney victoria charlotte madison aurora alexa siri cortana claude gemini bard mistral llama opus "
    "sonnet haiku karma ping pong jira rome milan tokyo dublin vienna"
)
PRE_STREET_TYPES = _words(
    "rua rue via viale vicolo corso piazza piazzale largo calle avenida avda paseo pasaje praça travessa "
    "estrada alameda carrer camino strada ul ulica aleja plac jalan"
)


@lru_cache(maxsize=1)
def _lexicon_str() -> dict[str, int]:
    from pii.engine.addresses import STREET_WORDS

    lex: dict[str, int] = {}
    for word in load_list("first_names.txt"):
        lex[word] = F_FIRST
    for word in load_list("last_names.txt"):
        lex[word] = lex.get(word, 0) | F_LAST
    for word in load_list("mostly_surnames.txt"):
        lex[word] = lex.get(word, 0) | F_MOSTLY_SURNAME
    for word in load_list("english_words.txt"):
        lex.setdefault(word, F_COMMON)  # the build keeps name-list words out of this list
    for word in load_list("common_words.txt") | load_list("countries.txt") | set(COMMON_EXTRAS):
        lex[word] = lex.get(word, 0) | F_COMMON
    for words, flag in (
        (TITLES, F_TITLE),
        (SUFFIXES, F_SUFFIX),
        (STOP_WORDS, F_BLOCK),
        (ORG_WORDS, F_BLOCK | F_ORG),
        (STREET_WORDS, F_BLOCK),
        (PRE_STREET_TYPES, F_BLOCK | F_PLACE_NEXT),
    ):
        for word in words:
            lex[word] = lex.get(word, 0) | flag
    return lex


def lexicon() -> dict[str, int]:
    """Lower-case word → flags (mutable: the dev benchmark removes names to measure held-out recall)."""
    return _lexicon_str()


F_BREAK = 128  # derived: this word ends a chunk (common-only, stop, title, organisation, street…)


def _breaks(flags: int) -> bool:
    if flags & (F_BLOCK | F_TITLE):
        return True
    return bool(flags & (F_COMMON | F_SUFFIX)) and not flags & (F_FIRST | F_LAST)


@lru_cache(maxsize=1)
def _lexicon_bytes() -> dict[bytes, int]:
    """Byte keys for the hot loop: the lower-case UTF-8 form, plus the form ``bytes.lower()`` gives for
    a Title-case word ("Šušulić" → b"\xc5\xa0u\xc5\xa1uli\xc4\x87": only ASCII letters lowered),
    so most tokens need no decoding to be looked up."""
    out: dict[bytes, int] = {}
    for word, flags in lexicon().items():
        value = flags | (F_BREAK if _breaks(flags) else 0)
        out[word.encode("utf-8")] = value
        if not word.isascii():
            title = (word[:1].upper() + word[1:]).encode("utf-8").lower()
            out.setdefault(title, value)
    return out


CAT_UNKNOWN, CAT_WEAK, CAT_STRONG, CAT_BREAK, CAT_TITLE = 0, 1, 2, 3, 4


@lru_cache(maxsize=1)
def _categories() -> dict[bytes, int]:
    """Byte key → coarse category, for the C-speed pre-filter in _find (unknown words are absent)."""
    out: dict[bytes, int] = {}
    for key, flags in _lexicon_bytes().items():
        if flags & F_TITLE:
            out[key] = CAT_TITLE
        elif flags & F_BREAK:
            out[key] = CAT_BREAK
        elif flags & _NAME_LIKE:
            out[key] = CAT_WEAK if flags & F_COMMON else CAT_STRONG
    return out


def _reset_caches() -> None:
    """After ``lexicon()`` was edited in place (benchmarks), rebuild the derived byte-keyed copies."""
    _lexicon_bytes.cache_clear()
    _categories.cache_clear()


# --------------------------------------------------------------------------------------------------
# Patterns (bytes)
# --------------------------------------------------------------------------------------------------

# Context before a name (a match ends where the name starts): (regex, strength, lower-case names ok).
BEFORE_CONTEXTS: tuple[tuple[str, float, bool], ...] = (
    (r"my name is|my name's|name is|name was|names? ?:|name\?|signature ?:", 0.45, True),
    (r"(?:full|first|last|given|family|customer|patient|contact|client|account|holder|employee|user) name", 0.3, False),
    (r"call me|named|called|known as|signed|sincerely,?|regards,?|yours truly,?|best wishes,?", 0.35, True),
    (r"(?:mr|mrs|ms|dr|prof)\.?", 0.45, True),
    (r"miss", 0.45, False),  # not before lower-case words: "cache miss oid=…"
    (r"(?:dear|hi|hello|hey|thanks|thank you|greetings|welcome|congratulations)[ \t]*,?", 0.35, True),
    (r"this is|i am|i'm|change it to|correct it to|speak to|talk to|beneficiary", 0.2, True),
    (r"(?:from|to|cc|bcc|author|attn|attention|contact|assignee|reviewer|owner|reported by|user)[ \t]*:", 0.3, False),
    (r"says|said|told|asked|wrote|according to|heard|tribute to|assistant to|directed by|starring", 0.3, False),
)
# Key = value forms in logs, configs and JSON ("author=Molnár Jolán", '"full_name": "Anna Kowalski"');
# these match up to the value itself, with no whitespace required.
KEY_CONTEXTS: tuple[tuple[str, float], ...] = (
    (
        r"(?:\w*name|author|owner|assignee|reviewer|reporter|customer|contact|signed_off_by|committer)"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?",
        0.35,
    ),
)
# Context after a name (a match starts where the name ends).
AFTER_CONTEXTS: tuple[tuple[str, float], ...] = (
    (
        r"[ \t]+(?:says|said|told|asked|wrote|replied|explained|added|noted|tweeted|shouted|whispered|lives|lived|"
        r"was born|works|worked|is from|was from|flew|moved|had given|has given|has been|joined|emailed|texted|"
        r"signed|spent)",
        0.3,
    ),
)

_B_WORDCHARS = rb"A-Za-z0-9_\x80-\xff"
# Boundary: an ASCII non-word byte, U+00A0-U+00BF (nbsp, «, ·) or U+2010-U+203F (dashes, curly quotes).
_B_EDGE = rb"(?:[^" + _B_WORDCHARS + rb"]|\xc2[\xa0-\xbf]|\xe2\x80[\x90-\xbf])"
_B_EDGE1 = rb"[^" + _B_WORDCHARS + rb"]"  # a one-byte ASCII edge
_B_EDGE_WIDE = rb"(?:\xe2\x80[\x90-\xbf]|\xc2[\xa0-\xbf])"
# After a word: anything but a letter, digit or "_". The lead bytes \xc2 / \xe2 (nbsp, curly quotes,
# dashes: "Megan's") count as an end; Latin/Greek/Cyrillic letter lead bytes (\xc3-\xd4) do not.
_B_TERM = rb"[^A-Za-z0-9_\x80-\xc1\xc3-\xe1\xe3-\xff]"
_B_NA = rb"[\xc3-\xd4][\x80-\xbf]"  # a 2-byte Latin/Greek/Cyrillic letter
# Title-case words only. Simple patterns keep Hyperscan fast: plain ASCII words, words with at least
# one accented letter, Mc/Mac names, and words after a multi-byte edge are four disjoint patterns.
# Hyphenated and O'/D' names are joined in Python. ALL-CAPS and CamelCase words (INFO, HTTPResponse)
# are code and log noise far more often than names, and skipping them saves a Python callback each.
TOKEN_PATTERNS: tuple[tuple[bytes, int], ...] = (
    (_B_EDGE1 + rb"[A-Z][a-z]+" + _B_TERM, 1),  # (pattern, bytes of leading edge in the match)
    (
        _B_EDGE1
        + rb"(?:"
        + _B_NA
        + rb"(?:[a-z]|"
        + _B_NA
        + rb")+|[A-Z](?:[a-z]|"
        + _B_NA
        + rb")*"
        + _B_NA
        + rb"(?:[a-z]|"
        + _B_NA
        + rb")*)"
        + _B_TERM,
        1,
    ),
    (rb"\b(?:Mc|Mac)[A-Z][a-z]+" + _B_TERM, 0),
    (_B_EDGE_WIDE + rb"(?:[A-Z]|" + _B_NA + rb")(?:[a-z]|" + _B_NA + rb")+" + _B_TERM, -1),  # -1: 2 or 3 bytes
)
CONTEXT_BASE = 10  # pattern ids of name contexts start here
ANCHOR_BASE = 100  # pattern ids of address anchors (addresses.ANCHORS) start here


def _patterns() -> list[tuple[int, bytes, bool, bool]]:
    """Every pattern of the combined scan: (id, regex, caseless, needs start-of-match)."""
    from pii.engine.addresses import ANCHORS

    out = [(i, rx, False, True) for i, (rx, _) in enumerate(TOKEN_PATTERNS)]
    for i, (rx, _, _) in enumerate(BEFORE_CONTEXTS):
        out.append((CONTEXT_BASE + i, rb"\b(?:" + rx.encode() + rb")[ \t]+", True, False))
    for i, (rx, _) in enumerate(AFTER_CONTEXTS):
        out.append((CONTEXT_BASE + len(BEFORE_CONTEXTS) + i, rx.encode(), True, True))
    for i, (rx, _) in enumerate(KEY_CONTEXTS):
        out.append((CONTEXT_BASE + len(BEFORE_CONTEXTS) + len(AFTER_CONTEXTS) + i, rb"\b" + rx.encode(), True, False))
    for i, (rx, caseless) in enumerate(ANCHORS):
        out.append((ANCHOR_BASE + i, rx, caseless, True))
    return out


@lru_cache(maxsize=1)
def _hs_all() -> tuple[HsMatcher, list[int]]:
    assert hyperscan is not None
    pats = _patterns()
    flags = [
        (hyperscan.HS_FLAG_CASELESS if caseless else 0) | (hyperscan.HS_FLAG_SOM_LEFTMOST if som else 0)
        for _, _, caseless, som in pats
    ]
    matcher = HsMatcher([(rx, f) for (_, rx, _, _), f in zip(pats, flags, strict=True)])
    return matcher, [pid for pid, _, _, _ in pats]


@lru_cache(maxsize=1)
def _py_all() -> list[tuple[int, re.Pattern[bytes]]]:
    out = []
    for pid, rx, caseless, _ in _patterns():
        if pid < CONTEXT_BASE:
            # finditer does not report overlapping matches: make the trailing edge a lookahead so that
            # "Anna Smith" yields both words (Hyperscan reports overlapping matches by itself).
            rx = rx[: -len(_B_TERM)] + rb"(?=" + _B_TERM + rb")"
        out.append((pid, re.compile(rx, re.IGNORECASE if caseless else 0)))
    return out


class Scan:
    """Everything the name and address detectors need from one pass over a text (byte offsets)."""

    __slots__ = ("addresses", "after", "anchors", "before", "data", "lower_ok", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = data = encode(text)
        self.before: dict[int, float] = {}  # name contexts ending here → strength
        self.lower_ok: list[int] = []  # where a lower-case name may follow a strong context
        self.after: dict[int, float] = {}  # name contexts starting here → strength
        self.anchors: list[tuple[int, int, int]] = []  # (anchor index, start, end)
        self.addresses: list[Detection] | None = None  # filled in by addresses.find_street_addresses
        tokens: list[tuple[int, int]] = []
        others: list[tuple[int, int, int]] = []
        if use_hyperscan():
            matcher, _ids = _hs_all()  # pattern ids are positions in _patterns(): tokens first
            n_tok = len(TOKEN_PATTERNS)
            tok_append = tokens.append
            other_append = others.append
            rare: list[int] = []  # tokens from the rare patterns arrive out of order

            # One callback per match, so route it right here: plain tokens (nearly all matches)
            # are stored as their word span without any further Python work.
            def on_match(pid: int, s: int, e: int, _flags: int, _ctx: object) -> None:
                if pid == 0:
                    tok_append((s + 1, e - 1))
                elif pid < n_tok:
                    lead = TOKEN_PATTERNS[pid][1]
                    if lead < 0:
                        lead = 3 if data[s] == 0xE2 else 2
                    tok_append((s + lead, e - 1))
                    rare.append(pid)
                else:
                    other_append((_ids[pid], s, e))

            matcher.scan_with(data, on_match)
            if rare:
                tokens.sort()
        else:
            for pid, rx in _py_all():
                if pid < CONTEXT_BASE:
                    lead = TOKEN_PATTERNS[pid][1]
                    for m in rx.finditer(data):
                        s = m.start()
                        lead_n = lead if lead >= 0 else (3 if data[s] == 0xE2 else 2)
                        tokens.append((s + lead_n, m.end()))  # the trailing edge is a lookahead here
                else:
                    others.extend((pid, m.start(), m.end()) for m in rx.finditer(data))
            tokens.sort()
        self.tokens = tokens
        n_before = len(BEFORE_CONTEXTS)
        n_after = len(AFTER_CONTEXTS)
        before, after = self.before, self.after
        for pid, start, end in others:
            if pid >= ANCHOR_BASE:
                self.anchors.append((pid - ANCHOR_BASE, start, end))
            elif pid - CONTEXT_BASE < n_before:
                _, strength, low = BEFORE_CONTEXTS[pid - CONTEXT_BASE]
                if strength > before.get(end, 0.0):
                    before[end] = strength
                if low:
                    self.lower_ok.append(end)
            elif pid - CONTEXT_BASE - n_before < n_after:
                strength = AFTER_CONTEXTS[pid - CONTEXT_BASE - n_before][1]
                if strength > after.get(start, 0.0):
                    after[start] = strength
            else:
                strength = KEY_CONTEXTS[pid - CONTEXT_BASE - n_before - n_after][1]
                if strength > before.get(end, 0.0):
                    before[end] = strength


_LAST_SCAN = threading.local()


def clear_scan_cache() -> None:
    """Forget this thread's last scan (benchmarks use it so that each timed call pays for its scan)."""
    _LAST_SCAN.scan = None


def scan(text: str) -> Scan:
    """The combined scan of ``text``; the last one is kept per thread, so a caller that runs both
    detectors on the same string (the Scanner) pays for a single Hyperscan pass."""
    last = getattr(_LAST_SCAN, "scan", None)
    if last is not None and last.text is text:
        return last
    result = Scan(text)
    _LAST_SCAN.scan = result
    return result


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------

# Between two name words: spaces, optionally middle initials ("J", "J.") or particles ("van", "de la").
_GAP = re.compile(
    rb"[ \t]{1,2}(?:(?:[A-Z]\.?|van|von|de|del|della|der|den|di|da|das|dos|du|la|le|bin|ibn|al|el|ter|ten|zu)"
    rb"[ \t]{1,2}){1,3}"
)
_PARTICLE_AFTER = re.compile(rb"(?:van|von|de|der|den|da|di|du|del|la|le)\b")
_HAS_INITIAL = re.compile(rb"[ \t][A-Z]\.?[ \t]")
_TITLE_GAP = re.compile(rb"\.?[ \t]{1,3}")
_SUFFIX_AFTER = re.compile(rb",?[ \t]+(?:Jr|Sr|II|III|IV|MD|DDS|PhD|MBA|Esq|CPA|RN|DVM|JD)\b\.?")
# A house number right after ("Joaquin Suarez 2906") or before ("233 Erzsébet tér"): a street name.
_NUMBER_AFTER = re.compile(rb"[ \t]{1,2}\d{1,5}[a-zA-Z]?\b(?![.:,]\d)")
_STREET_WORD_AFTER = re.compile(rb"[ \t](?:u|utca|\xc3\xbat|t\xc3\xa9r|str|street|st|rd|ave)\.?[ \t]+\d")
_NUMBER_BEFORE = re.compile(rb"\b\d{1,6}[ \t]{1,2}$")
_PLACE_BEFORE = re.compile(rb"(?:^|[ \t(])(?:in|near|from)[ \t]$")
# Surname shapes common in Slavic, Nordic, Baltic, Greek, Romanian, Armenian, Italian, Japanese… names.
_SURNAME_SHAPE = re.compile(
    r"(?:ov|ova|ev|eva|in|ina|sky|ski|ska|skaya|ić|vić|ová|ský|ská|sson|ssen|sen|dóttir|dottir|escu|enko|"
    r"chuk|yan|ian|poulos|akis|idis|oglu|oğlu|stein|berg|mann|ez|elli|etti|ini|ucci|eau|ault|aki|awa|ura|"
    r"ishi|oto|aite|iene|yte|aitis|enas|nen|lä|czyk|wicz|vich|ovna|evna|ovic|evic|ak|ek|ik|dze|shvili)$"
)
_LOWER_NAME = re.compile(rb"(?:[a-z]|[\xc3-\xc5][\x80-\xbf])(?:[a-z'\-]|[\xc3-\xc5][\x80-\xbf])+")
_CODE_BEFORE = frozenset(b".@/\\#$=<_[{")
_CODE_AFTER = frozenset(b"(=[{_/@<")
_NAME_LIKE = F_FIRST | F_LAST
_WORDISH = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") | frozenset(range(0x80, 0x100))
_WORDISH_BYTES = frozenset(bytes([b]) for b in _WORDISH)


def _word_key(word: bytes) -> bytes:
    return word.lower() if word.isascii() else word.decode("utf-8", "replace").lower().encode("utf-8")


def _word_strength(flags: int, word: bytes) -> tuple[float, float]:
    """(evidence as a given name, evidence as a surname), 0..1."""
    common = flags & F_COMMON
    first = (0.35 if common else 0.6 if flags & F_MOSTLY_SURNAME else 1.0) if flags & F_FIRST else 0.0
    last = (0.35 if common else 0.9) if flags & F_LAST else 0.0
    if not flags & _NAME_LIKE:
        if common:
            return 0.0, 0.0
        # Unknown word: a foreign name or just a capitalised word (product, place). Accents and surname
        # endings make a name likelier.
        unknown = 0.32
        text = word.decode("utf-8", "replace")
        if not word.isascii():
            unknown += 0.15
        if _SURNAME_SHAPE.search(text.lower()):
            unknown += 0.15
        first = last = unknown
    return first, last


def _score(kinds: list[tuple[float, float]]) -> float:
    if len(kinds) == 1:
        first, last = kinds[0]
        if first >= 1.0:
            return 0.6  # a lone non-ambiguous given name ("Megan lives on…")
        if max(first, last) <= 0.35:
            return 0.1  # a lone ambiguous word ("Hello World", "Mr. White" passes only with a title)
        return 0.15 + 0.2 * max(first, last)
    first = kinds[0][0]
    last = kinds[-1][1]
    score = 0.2 + 0.45 * first + 0.35 * last  # "Jennifer Umkhayev" ≈ 0.9
    alt = 0.2 + 0.35 * kinds[0][1] + 0.35 * max(kinds[-1])  # surname first, or given name not in the lists
    score = max(score, alt)
    if min((max(k) for k in kinds[1:-1]), default=1.0) < 0.3:
        score -= 0.2
    return score


def _find(sc: Scan, min_conf: float) -> list[tuple[int, int, float, str]]:
    lex = _lexicon_bytes()
    lexget = lex.get
    data, tokens, before, lower_ok, after = sc.data, sc.tokens, sc.before, sc.lower_ok, sc.after
    out: list[tuple[int, int, float, str]] = []
    # Most capitalised words are common words ("The", "Request") or lone unknown / ambiguous words
    # ("Middleware", "Pool"): filter them with C-level map() calls and one cheap comprehension.
    keys = [data[s:e].lower() for s, e in tokens]
    cats = list(map(_categories().get, keys, repeat(CAT_UNKNOWN)))
    cats.append(CAT_BREAK)  # sentinel for cats[i + 1] / cats[-1]
    keep = [
        i
        for i, c in enumerate(cats[:-1])
        if c == CAT_STRONG or (c < CAT_BREAK and (cats[i - 1] != CAT_BREAK or cats[i + 1] != CAT_BREAK))
    ]
    # Lone unknown / ambiguous words still count after a context phrase ("says Bergqvist").
    if before or after:
        extra = set()
        n_tok = len(tokens)
        if before:
            starts = list(map(itemgetter(0), tokens))
            for pos in before:
                j = bisect_left(starts, pos)
                if j < n_tok and starts[j] == pos and cats[j] < CAT_BREAK:
                    extra.add(j)
        if after:
            ends = list(map(itemgetter(1), tokens))
            for pos in after:
                j = bisect_left(ends, pos)
                if j < n_tok and ends[j] == pos and cats[j] < CAT_BREAK:
                    extra.add(j)
        if extra:
            keep = sorted(extra.union(keep))
    candidates = keep
    chunk: list[list] = []  # [start, end, flags, possessive]
    chunk_first = 0  # token index where the chunk starts
    chunk_last = -2  # token index of its last word
    strong = False  # the chunk has a given name / surname that is not a common word

    def close() -> None:
        # Most chunks are one ambiguous or unknown word without context ("Pool", "Middleware"):
        # drop those before paying for a full judgement.
        if strong or len(chunk) > 1:
            pass
        else:
            start, end = chunk[0][0], chunk[0][1]
            if (
                start not in before
                and end not in after
                and data[end] != 0x3A
                and not (chunk_first and lexget(keys[chunk_first - 1], 0) & F_TITLE)
            ):
                return
        found = _judge(data, chunk, chunk_first, chunk_last + 1, tokens, keys, before, after, lex, min_conf)
        if found and found[2] >= min_conf:
            out.append(found)

    for i in candidates:
        s, e = tokens[i]
        if data[e] == 0x2D and 0x61 <= data[e + 1] <= 0x7A and not _PARTICLE_AFTER.match(data, e + 1):
            continue  # "Cherry-picked", "Self-hosted": the first part of a hyphenated lower-case word
        flags = lexget(keys[i], -1)
        if flags < 0:
            flags = lexget(_word_key(data[s:e]), 0)  # e.g. a word whose first letter is not ASCII
        if data[s - 1] == 0x27 and s >= 3 and data[s - 2] in b"OD" and data[s - 3] not in _WORDISH:  # O'Brien
            s -= 2
            flags |= lexget(_word_key(data[s:e].replace(b"'", b"")), 0) & _NAME_LIKE
        possessive = False
        if data[e] in (0x27, 0xE2):
            tail = data[e : e + 5]
            possessive = tail.startswith((b"'s", b"\xe2\x80\x99s"))
            if possessive and tail[2 if tail[0] == 0x27 else 4 : (3 if tail[0] == 0x27 else 5)] in _WORDISH_BYTES:
                possessive = False  # "Franciska'sx" is not a possessive
        if chunk:
            if i == chunk_last + 1 and not chunk[-1][3]:
                gap_s = chunk[-1][1]
                if data[gap_s:s] == b"-":
                    # "Jean-Pierre", "Scott-Murphy": one hyphenated word
                    chunk[-1][1] = e
                    chunk[-1][2] |= flags & _NAME_LIKE
                    chunk[-1][3] = possessive
                    chunk_last = i
                    strong = strong or bool(flags & _NAME_LIKE and not flags & F_COMMON)
                    continue
                gap = data[gap_s:s]
                if len(chunk) < 5 and (gap == b" " or gap == b"  " or _GAP.fullmatch(data, gap_s, s) is not None):
                    chunk.append([s, e, flags, possessive])
                    chunk_last = i
                    strong = strong or bool(flags & _NAME_LIKE and not flags & F_COMMON)
                    continue
            close()
        chunk = [[s, e, flags, possessive]]
        chunk_first = chunk_last = i
        strong = bool(flags & _NAME_LIKE and not flags & F_COMMON)
    if chunk:
        close()
    out.extend(_lower_case_names(data, before, lower_ok, lex, min_conf))
    return out


def _judge(
    data: bytes,
    chunk: list[list],
    first: int,
    next_i: int,
    tokens: list[tuple[int, int]],
    keys: list[bytes],
    before: dict[int, float],
    after: dict[int, float],
    lex: dict[bytes, int],
    min_conf: float,
) -> tuple[int, int, float, str] | None:
    prev_flags = lex.get(keys[first - 1], 0) if first > 0 else 0
    prev_end = tokens[first - 1][1] if first > 0 else -10
    start = chunk[0][0]
    end = chunk[-1][1]
    has_name_word = any(c[2] & _NAME_LIKE for c in chunk)
    ctx = before.get(start, 0.0)
    if prev_flags & F_TITLE and prev_end >= 0 and _TITLE_GAP.fullmatch(data, prev_end, start):
        ctx = max(ctx, 0.45)
    post = after.get(end, 0.0)
    # Chat / dialogue speaker at the start of a line: "Éva: What a wife.", 'Koppány: "Who are you?"'
    if not post and data[end : end + 1] == b":" and (has_name_word or data[end + 1 : end + 2] in (b" ", b'"')):
        line_start = data.rfind(b"\n", 0, start) + 1
        if not data[line_start:start].strip(b" \t>*-"):
            post = 0.3
    if not has_name_word and not ctx and not post and len(chunk) == 1:
        return None  # a lone unknown capitalised word without any context
    if len(chunk) > 4:
        return None  # a title-cased heading, not a name
    kinds = [_word_strength(c[2], data[c[0] : c[1]]) for c in chunk]
    conf = _score(kinds)
    if len(chunk) == 1 and end - start <= 2:
        conf -= 0.2  # "Jo", "Li", "Al" alone are more often abbreviations than names
    if len(chunk) > 1 and _HAS_INITIAL.search(data, start, end):
        conf += 0.2  # "Mohmad R. Vizirov": a middle initial is a strong name shape
    elif len(chunk) > 1 and data[start - 1] in b"\n>" and data[end : end + 1] in (b"\n", b" "):
        line_end = data.find(b"\n", end)
        if not data[end : line_end if line_end >= 0 else len(data)].strip():
            conf += 0.08  # a line that is just a name (signature, address block)
    if len(chunk) == 1 and max(kinds[0]) < 1.0 and post >= 0.3 and not ctx:
        post -= 0.1  # "X said": a lone surname/unknown word needs a bit more than that
    conf += ctx + post
    if chunk[-1][3]:
        conf += 0.05  # possessive "Franciska's"
    if conf < min_conf:
        return None  # everything below only lowers the confidence
    if all(data[c[0] : c[1]].decode("utf-8", "replace").isupper() for c in chunk):
        conf -= 0.15 if has_name_word else 0.3  # ALL CAPS chunks are often headings / place names
    # Code and markup: identifiers ("os.Path", "Megan()", "@Megan") are not prose names.
    if data[start - 1] in _CODE_BEFORE:
        conf -= 0.4
    nxt = data[end : end + 1]
    if nxt and nxt[0] in _CODE_AFTER:
        conf -= 0.4
    # Street names and city lines of addresses ("Joaquin Suarez 2906", "03751 Gerrit Achterberghove",
    # "Rua Victor Hugo", "\n María Albina\n Uruguay 77212").
    if (
        (prev_flags & F_PLACE_NEXT and prev_end >= 0 and _TITLE_GAP.fullmatch(data, prev_end, start))
        or _NUMBER_AFTER.match(data, end)
        or _STREET_WORD_AFTER.match(data, end)
        or _NUMBER_BEFORE.search(data, max(0, start - 8), start)
    ):
        conf -= 0.45
    # A following organisation / street word: "Davis Orchestra", "Rachel Burgs", and organisation words
    # further along the same capitalised run: "Kroll Bond Ratings Agency".
    prev_e = end
    for j in range(next_i, min(next_i + 3, len(tokens))):
        ns, ne = tokens[j]
        if data[prev_e:ns] not in (b" ", b", "):
            break
        flags_j = lex.get(_word_key(data[ns:ne]), 0)
        if flags_j & F_ORG or (j == next_i and flags_j & F_BLOCK):
            conf -= 0.5
            break
        prev_e = ne
    # "in Florence", "to Austin": a lone word after a place preposition is more likely a place.
    if len(chunk) == 1 and not ctx and _PLACE_BEFORE.search(data, max(0, start - 6), start):
        conf -= 0.15
    if conf < min_conf:
        return None
    m = _SUFFIX_AFTER.match(data, end)
    if m and not chunk[-1][3]:
        end = m.end()
    return (start, end, min(conf, 0.99), "person_name.lexicon")


def _lower_case_names(
    data: bytes, before: dict[int, float], lower_ok: list[int], lex: dict[bytes, int], min_conf: float
) -> list[tuple[int, int, float, str]]:
    """ "my name is vitoria", "mr. elliott flew…": lower-case names only right after a strong context."""
    out: list[tuple[int, int, float, str]] = []
    for pos in lower_ok:
        words: list[tuple[int, int]] = []
        p = pos
        while len(words) < 3:
            m = _LOWER_NAME.match(data, p)
            if not m:
                break
            flags = lex.get(_word_key(m.group()), 0)
            if flags & (F_COMMON | F_BLOCK | F_TITLE):
                break
            if not flags & _NAME_LIKE and (words or before.get(pos, 0.0) < 0.45):
                break  # an unknown word is taken only as the first word after "my name is", "Mr."…
            if data[m.end() : m.end() + 1] in (b"=", b"_", b"(", b"[", b"/", b"@", b"-") or (
                data[m.end() : m.end() + 1] == b"." and data[m.end() + 1 : m.end() + 2].isalnum()
            ):
                break  # an identifier ("oid=…", "db_url", "md5("), not a name
            words.append(m.span())
            gap = re.compile(rb"[ \t]{1,2}(?:[a-z]\.?[ \t]{1,2})?").match(data, m.end())
            if not gap or gap.end() == m.end():
                break
            p = gap.end()
        if not words:
            continue
        conf = 0.2 + before.get(pos, 0.0) + (0.15 if len(words) > 1 else 0.0)
        if conf >= min_conf:
            out.append((words[0][0], words[-1][1], min(conf, 0.95), "person_name.context"))
    return out


def to_detections(text: str, data: bytes, found: list[tuple[int, int, float, str]], type_: str) -> list[Detection]:
    """Resolve overlaps (most confident wins, then longest) and map byte spans to string offsets."""
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, float, str]] = []
    for cand in found:
        if kept and cand[0] < kept[-1][1]:
            if cand[2] > kept[-1][2]:
                kept[-1] = cand
            continue
        kept.append(cand)
    if not kept:
        return []
    if is_ascii_encoding(text, data):
        return [Detection(type_, s - 1, e - 1, round(c, 3), d) for s, e, c, d in kept]
    conv = byte_to_char(data, [o for s, e, _, _ in kept for o in (s, e)])
    return [Detection(type_, conv[s], conv[e], round(c, 3), d) for s, e, c, d in kept]


def find_person_names(text: str, min_confidence: float = MIN_CONFIDENCE) -> list[Detection]:
    """Person names in ``text``, sorted by start, non-overlapping (the most confident candidate wins)."""
    if not text:
        return []
    sc = scan(text)
    found = to_detections(text, sc.data, _find(sc, min_confidence), TYPE)
    if found and sc.anchors:
        # Street and city names of an address ("Rua Victor Hugo 12", "\n Porto Alegre\n, RS") are not
        # person names; the address result is cached on the scan, so the Scanner pays for it once.
        from pii.engine.addresses import street_spans

        spans = street_spans(sc)
        if spans:
            starts = [s for s, _ in spans]  # sorted, non-overlapping
            kept = []
            for d in found:
                j = bisect_right(starts, d.start) - 1
                if j < 0 or d.end > spans[j][1]:
                    kept.append(d)
            found = kept
    return found
