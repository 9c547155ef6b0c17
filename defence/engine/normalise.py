"""Fold a text into the plain form the detectors read, and find the places where text hides.

Two kinds of output:

* the **main view**: the text lower-cased, NFKC-normalised (only when it is not ASCII), with
  zero-width, bidi and tag characters removed, confusable letters folded inside tokens that mix
  scripts and leetspeak folded inside tokens that mix letters and digits. An offset map leads back
  to the original; it is built lazily, only when there is evidence to place.
* **hidden layers**: regions whose content differs from what a reader sees (base64, hex, URL
  escapes, rot13, HTML comments, markdown link targets, spaced letters, tag characters). Each is
  returned with the span of the region in the original and its decoded text, and is decoded again
  (up to ``MAX_DECODE_DEPTH``) because attackers nest encodings.

Every regular expression here is linear: bounded repetitions, no nested quantifiers.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

MAX_DECODE_DEPTH = 4
MAX_DECODED_CHARS = 1 << 20  # per message, all layers together
MAX_CANDIDATES = 64  # encoded regions tried per text and level

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_STRIP = {ord(c): None for c in ZERO_WIDTH + BIDI}
_TAG_RE = re.compile("[\U000e0000-\U000e007f]+")

# Lookalikes of Latin letters (Cyrillic, Greek), folded only inside tokens that also hold Latin
# letters, so genuine Russian or Greek words keep their script.
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁԛԝвнкмтАЕОРСУХІЈЅВНКМТαεορτυνικΑΕΟΡΤΥΝΙΚΜΒΖΗΧ",
    "aeopcyxijsdqwbhkmtAEOPCYXIJSBHKMTaeoptuvikAEOPTYNIKMBZHX",
)
_MIXED_SCRIPT_RE = re.compile(r"[^\W\d_]{2,64}")
_LATIN = re.compile(r"[a-zA-Z]")
_NON_LATIN_LOOKALIKE = re.compile("[аеорсухіјѕԁԛԝвнкмтАЕОРСУХІЈЅВНКМТαεορτυνικΑΕΟΡΤΥΝΙΚΜΒΖΗΧ]")

_LEET = str.maketrans("0134578@$|!", "oieastbasli")
# A candidate token: letters, digits and leet symbols; "|" and "!" only before a letter or digit
# ("h|gh", "sh!t"), never as the punctuation ending a word ("you!|email").
# The lookahead skips plain words cheaply: a candidate holds a digit, "$", "|" or "!".
_LEET_TOKEN_RE = re.compile(r"(?<![\w@$|!])(?=[a-z@$]{0,40}[0-9$|!])(?:[a-z0-9@$]|[|!](?=[a-z0-9])){2,40}")
# It is leet when it mixes letters with a digit or "$", or with "|" / "!" between letters; an "@"
# alone is an e-mail address.
_LEET_MIXED_RE = re.compile(r"[a-z](?=.*?[0-9$])|[0-9$](?=.*?[a-z])|[a-z][|!][a-z]")
_LEET_NUMBER_RE = re.compile(r"(?<![\w.:/])[0-9]{1,3}(?![\w:/]|\.\w)")
_NAMEISH = re.compile(r"[a-z]{1,20}[0-9]{1,6}")  # "sha256", "v2", "python3"
_HEXISH = re.compile(r"[0-9a-f]+")

_SPACED_RE = re.compile(r"(?<![\w])(?:[a-z][._\-*]{1,3}){4,200}[a-z](?![\w])")
_SPACED_WIDE_RE = re.compile(r"(?<!\S)(?:\S {1,3}){5,400}\S(?!\S)")
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX_RE = re.compile(r"(?<![0-9A-Fa-fx])(?:[0-9A-Fa-f]{2}[ :]?){8,}")
_URL_RE = re.compile(r"[^\s%]{0,64}(?:%[0-9A-Fa-f]{2}[^\s%]{0,64}){3,}")
_COMMENT_RE = re.compile(r"<!--(.{0,20000}?)-->", re.DOTALL)
_MD_LINK_RE = re.compile(
    r"!?\[([^\]\n]{0,500})\]\(\s{0,4}([^)\s]{0,2048})(?:\s{1,4}[\"']([^\"'\n]{0,500})[\"'])?\s{0,4}\)"
)
_ROT13_HINT = re.compile(r"rot[\s\-_]?13|caesar|cipher", re.IGNORECASE)
_WS_RE = re.compile(r"[ \t\r\f\v]+")


@dataclass(slots=True)
class Layer:
    """A hidden region: ``kind`` of hiding, span in the original, decoded text, nesting depth."""

    kind: str
    start: int
    end: int
    text: str
    depth: int = 1


@dataclass(slots=True)
class View:
    """The main view of one string, its hidden layers and what normalisation noticed."""

    original: str
    text: str
    signals: set[str] = field(default_factory=set)
    layers: list[Layer] = field(default_factory=list)
    folded_spans: list[tuple[int, int]] = field(default_factory=list)  # in view offsets
    _map: list[int] | None = None
    identity: bool = True

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the view back to the original string."""
        if self.identity:
            return start, end
        if self._map is None:
            self._map = _offset_map(self.original)
        m = self._map
        if not m:
            return 0, 0
        s = m[min(start, len(m) - 1)]
        e = m[min(max(end - 1, 0), len(m) - 1)] + 1
        return s, max(e, s)


def _offset_map(original: str) -> list[int]:
    """Index in the original of every character of the view (per character, so only on demand)."""
    out: list[int] = []
    for i, ch in enumerate(original):
        t = ch.translate(_STRIP)
        if not t or _TAG_RE.match(t):
            continue
        if not ch.isascii():
            t = unicodedata.normalize("NFKC", t)
        out.extend([i] * len(t.lower()))
    return out


def view(text: str) -> View:
    """The main view of ``text`` with signals, folded spans and first-level hidden layers."""
    v = View(original=text, text="")
    s = text
    if not s.isascii():
        hidden = _TAG_RE.findall(s)
        if hidden:
            v.signals.add("tag_characters")
            smuggled = "".join(chr(ord(c) - 0xE0000) for run in hidden for c in run if 0x20 <= ord(c) - 0xE0000 < 0x7F)
            if smuggled:
                v.layers.append(Layer("tag_chars", 0, len(text), smuggled))
            s = _TAG_RE.sub("", s)
        stripped = s.translate(_STRIP)
        if len(stripped) != len(s):
            if any(c in s for c in ZERO_WIDTH):
                v.signals.add("zero_width_stripped")
            if any(c in s for c in BIDI):
                v.signals.add("bidi_control")
            s = stripped
        if not unicodedata.is_normalized("NFKC", s):
            s = unicodedata.normalize("NFKC", s)
        v.identity = len(s) == len(text) and not hidden
        s = _fold_confusables(s, v)
    s = s.lower()
    if len(s) != len(text):
        v.identity = False
    s = _fold_leet(s, v)
    v.text = s
    return v


def _fold_confusables(s: str, v: View) -> str:
    if not _NON_LATIN_LOOKALIKE.search(s):
        return s
    pieces: list[str] = []
    last = 0
    for m in _MIXED_SCRIPT_RE.finditer(s):
        tok = m.group()
        if _LATIN.search(tok) and _NON_LATIN_LOOKALIKE.search(tok):
            pieces.append(s[last : m.start()])
            pieces.append(tok.translate(_CONFUSABLES))
            v.folded_spans.append((m.start(), m.end()))
            last = m.end()
    if not pieces:
        return s
    v.signals.add("confusables_folded")
    pieces.append(s[last:])
    return "".join(pieces)


def _fold_leet(s: str, v: View) -> str:
    if not any(c in s for c in "0134578@$|!"):
        return s
    tokens = [m for m in _LEET_TOKEN_RE.finditer(s) if _LEET_MIXED_RE.search(m.group())]
    # Hashes, ids and names ("sha256", "v2", "python3") are not leet by themselves...
    strong = [m for m in tokens if not (_HEXISH.fullmatch(m.group()) or _NAMEISH.fullmatch(m.group()))]
    if not strong:
        return s
    sentence = len(strong) >= 3  # ...but inside a whole leet sentence they are words too ("m3", "4cc355")
    pieces: list[str] = []
    last = 0
    for m in tokens if sentence else strong:
        pieces.append(s[last : m.start()])
        pieces.append(m.group().translate(_LEET))
        v.folded_spans.append((m.start(), m.end()))
        last = m.end()
    pieces.append(s[last:])
    s = "".join(pieces)
    if sentence:  # short numbers are words too ("70" is "to")
        s = _LEET_NUMBER_RE.sub(lambda m: m.group().translate(_LEET), s)
    v.signals.add("leet_folded")
    return s


def _printable(decoded: str) -> bool:
    if not decoded:
        return False
    good = sum(1 for c in decoded if c.isprintable() or c in "\n\t\r")
    letters = sum(1 for c in decoded if c.isalpha())
    return good >= 0.95 * len(decoded) and letters >= 0.5 * len(decoded.replace(" ", "")) * 0.8


def _try_base64(token: str) -> str | None:
    t = token.rstrip("=")
    if len(t) % 4 == 1:
        return None
    padded = t + "=" * (-len(t) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if ("-" in t or "_" in t) else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if _printable(decoded) else None


def _try_hex(token: str) -> str | None:
    digits = token.replace(" ", "").replace(":", "")
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if _printable(decoded) else None


def hidden_layers(text: str, budget: list[int], signals: set[str], depth: int = 1) -> list[Layer]:
    """Regions of ``text`` that hide other text, decoded; recursive up to ``MAX_DECODE_DEPTH``.

    ``budget`` is a one-element list of characters still allowed to be decoded for this message.
    """
    found: list[Layer] = []

    def add(kind: str, start: int, end: int, decoded: str) -> None:
        if not decoded or decoded == text[start:end]:
            return
        if budget[0] <= 0:
            signals.add("decode_size_limit")
            return
        decoded = decoded[: budget[0]]
        budget[0] -= len(decoded)
        signals.add(f"{kind}_decoded" if kind in ("base64", "hex", "url", "rot13") else kind)
        found.append(Layer(kind, start, end, decoded, depth))

    for n, m in enumerate(_B64_RE.finditer(text)):
        if n >= MAX_CANDIDATES:
            break
        tok = m.group()
        if tok.isalpha() and (tok.islower() or tok.isupper()):
            continue  # a long word or identifier, not base64
        if (
            text[max(0, m.start() - 8) : m.start()].endswith("base64,")
            and "image" in text[max(0, m.start() - 40) : m.start()]
        ):
            continue  # data URI of an image: binary, never instructions
        decoded = _try_base64(tok[: MAX_DECODED_CHARS * 2])
        if decoded:
            add("base64", m.start(), m.end(), decoded)
    for n, m in enumerate(_HEX_RE.finditer(text)):
        if n >= MAX_CANDIDATES:
            break
        decoded = _try_hex(m.group().strip())
        if decoded:
            add("hex", m.start(), m.end(), decoded)
    if "%" in text:
        for n, m in enumerate(_URL_RE.finditer(text)):
            if n >= MAX_CANDIDATES:
                break
            add("url", m.start(), m.end(), urllib.parse.unquote_plus(m.group()))
    if "<!--" in text:
        for n, m in enumerate(_COMMENT_RE.finditer(text)):
            if n >= MAX_CANDIDATES:
                break
            add("html_comment", m.start(), m.end(), m.group(1))
    if "](" in text:
        for n, m in enumerate(_MD_LINK_RE.finditer(text)):
            if n >= MAX_CANDIDATES:
                break
            target = urllib.parse.unquote_plus(m.group(2))
            hidden = " ".join(x for x in (target, m.group(3) or "") if x)
            add("markdown_link", m.start(), m.end(), hidden.replace("/", " / ").replace("?", " ? ").replace("&", " & "))
    lowered = text.lower()
    for n, m in enumerate(_SPACED_RE.finditer(lowered)):
        if n >= MAX_CANDIDATES:
            break
        collapsed = re.sub(r"[ ._\-*]{2,3}", "\x00", m.group())
        collapsed = re.sub(r"[ ._\-*]", "", collapsed).replace("\x00", " ")
        add("spaced_letters", m.start(), m.end(), collapsed)
    for n, m in enumerate(_SPACED_WIDE_RE.finditer(lowered)):
        if n >= MAX_CANDIDATES:
            break
        words = (w.replace(" ", "") for w in re.split(r" {2,3}", m.group()))
        add("spaced_letters", m.start(), m.end(), " ".join(words))
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and len(text) <= MAX_DECODED_CHARS:
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict | list):
            add("json", 0, len(text), "\n".join(_json_strings(parsed)))
    if _ROT13_HINT.search(text) and len(text) <= 1 << 16:
        add("rot13", 0, len(text), codecs.encode(text, "rot13"))

    if depth < MAX_DECODE_DEPTH:
        for layer in list(found):
            if layer.kind in ("base64", "hex", "url", "rot13", "json"):
                for inner in hidden_layers(layer.text, budget, signals, depth + 1):
                    # Nested layers point at the outermost region: that is what a reader sees.
                    found.append(Layer(f"{layer.kind}+{inner.kind}", layer.start, layer.end, inner.text, inner.depth))
    elif any(layer.kind in ("base64", "hex") for layer in found) and any(
        _try_base64(m.group()) for m in _B64_RE.finditer(found[-1].text[:4096])
    ):
        signals.add("decode_depth_limit")
    return found


def _json_strings(node: object, limit: int = 64) -> list[str]:
    """String values and keys of parsed JSON, iteratively and at most ``limit`` levels deep."""
    out: list[str] = []
    stack: list[tuple[object, int]] = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            continue
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            out.extend(k for k in item if isinstance(k, str))
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return out


def collapse_whitespace(text: str) -> str:
    return _WS_RE.sub(" ", text)
