"""Detectors for passwords: a value named by a password word, in any of several languages and layouts.

``password=…``, ``"password": "…"``, ``PGPASSWORD=…``, ``--password …``, ``<password>…</password>``,
"my password is X", "the password for the server is X", ``IDENTIFIED BY '…'``, URL userinfo; the
span is the secret only, never the keyword. Placeholders (``****``, ``<password>``, ``${VAR}``,
``{{ var }}``), program expressions (``os.environ[…]``, ``form.password.data``, ``str``), paths and
prose ("the password is incorrect") are not passwords. Well-known defaults (``changeme``,
``admin``) are reported below the default policy threshold: as often documentation as a leak.
"""

from __future__ import annotations

import re

from pii.engine.rules import Prefilter, Rule, detection
from pii.engine.types import Detection
from pii.engine.validators import (
    WEAK_DEFAULT_PASSWORDS,
    char_classes,
    is_code_expression,
    is_placeholder,
)

_PW_LONG = r"pass(?:w(?:or)?d|phrase|wort|code)s?|kennwort|wachtwoord|senha|contrase(?:ñ|Ñ|n)a|mot[ _\-]?de[ _\-]?passe"
_PW_KEYWORD = (
    rf"(?:(?ai:{_PW_LONG})|(?<![A-Za-z])(?ai:pass|pwd)(?![A-Za-z])|(?<=[a-z0-9])(?:Pass|Pwd|PASS|PWD)(?![a-z])"
    r"|(?<![A-Za-z])(?ai:pw)(?=[ \t]{0,3}[:=]))"
)
_PW_VERB = r"(?:is|was|ist|lautet|est|es|era|è|are|to|als|now|reset[ \t]to|set[ \t]to|changed[ \t]to)(?=[ \t:])"
_PASSWORD = re.compile(
    rf"(?P<key>{_PW_KEYWORD})(?P<ksuf>[A-Za-z0-9_]{{0,24}})(?:[\"'\]]|\\\")?"
    r"(?:"
    # "the password for the shared mailbox: X", "password of admin is X"
    rf"(?P<clause>[ \t]{{1,3}}(?ai:for|of|für|pour|para|de|del|du|zu)[ \t][^\n:=]{{1,40}}?"
    rf"(?:[ \t]{{0,3}}[:=]|[ \t]{{1,3}}(?ai:{_PW_VERB})(?:[ \t]{{0,2}}:)?))"
    r"|(?P<assign>[ \t]{0,3}(?::=|=>|->|[:=>|]))"
    rf"|(?P<verb>[ \t]{{1,3}}(?ai:{_PW_VERB})(?:[ \t]{{0,2}}:(?=[ \t]))?)"
    r"|(?P<paren>[ \t]{0,2}\()"
    r"|(?P<bare>(?=[ \t]))"
    r")"
    r"[ \t]{0,3}(?:[\"'`]|\\\")?"
    r"(?P<val>(?<=\")[^\"\r\n\\]{1,256}(?=\\?\")|(?<=')[^'\r\n\\]{1,256}(?=')|(?<=`)[^`\r\n]{1,256}(?=`)"
    # Unquoted: up to a space or delimiter; '&' only when it does not start the next "&key=" of a query.
    r"|(?<![\"'`])(?:[^\s\"'`,;&<>|\\]|&(?![A-Za-z_][A-Za-z0-9_]{0,30}=)){1,256})"
)
_PW_BAD_SUFFIX = re.compile(
    r"hash|digest|file|path|dir|_?id$|policy|polic|reset|length|len$|min|max|hint|field|label|less|expir|changed"
    r"|updated|required|strength|rule|regex|pattern|prompt|placeholder|manager|enabled|enable|type|mode|count"
    r"|attempt|retr|encrypted|salt|url|uri|link|page|form|input|reveal|show|toggle|visible|ok|valid|match",
    re.IGNORECASE,
)
_PW_OK_SUFFIXES = frozenset({"s", "1", "2", "_confirm", "confirm", "_new", "new", "_old", "old", "_plain", "_value"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_IN_VALUE = re.compile(r"(?i:passw(?:or)?d|pwd)[:=]")
_PROSE_STOPWORDS = frozenset(
    [
        "incorrect",
        "invalid",
        "wrong",
        "required",
        "too",
        "not",
        "expired",
        "missing",
        "empty",
        "set",
        "correct",
        "valid",
        "stored",
        "being",
        "the",
        "a",
        "an",
        "case",
        "reset",
        "changed",
        "updated",
        "weak",
        "strong",
        "hashed",
        "encrypted",
        "needed",
        "mandatory",
        "optional",
        "sent",
        "same",
        "different",
        "still",
        "now",
        "also",
        "only",
        "what",
        "and",
        "or",
        "never",
        "always",
        "unchanged",
        "blank",
        "sensitive",
        "protected",
        "secure",
        "managed",
        "generated",
        "rotated",
        "saved",
        "provided",
        "shown",
        "visible",
        "masked",
        "long",
        "short",
        "complex",
        "simple",
        "easy",
        "hard",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "by",
        "via",
        "of",
        "this",
        "that",
        "it",
        "its",
        "your",
        "my",
        "our",
        "their",
        "his",
        "her",
        "new",
        "old",
        "temporary",
        "temp",
        "field",
        "fields",
        "policy",
        "manager",
        "reset.",
        "change",
        "changes",
        "update",
        "must",
        "should",
        "will",
        "can",
        "could",
        "would",
        "may",
        "might",
        "has",
        "have",
        "had",
        "does",
        "did",
        "do",
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "hint",
        "prompt",
        "screen",
        "page",
        "form",
        "dialog",
        "box",
        "input",
        "entry",
        "attempts",
        "attempt",
        "rules",
        "rule",
        "requirements",
        "strength",
        "expires",
        "expiry",
        "again",
        "here",
        "there",
        "please",
        "when",
        "if",
        "then",
        "because",
        "used",
        "using",
        "use",
        "login",
        "sign",
    ]
)


_SENTENCE_END = re.compile(r"[ \t]+[A-Z]|[ \t]*(?:\n|$)")


def _line_start_key(text: str, key_start: int) -> bool:
    """True if the keyword starts its line (allowing indentation, quotes, ``export``, ``--``, a key prefix)."""
    i = key_start
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_.-\"'[{$"):
        i -= 1
    head = text[max(0, i - 12) : i]
    line_head = head.rsplit("\n", 1)[-1]
    return line_head.strip() in ("", "export", "set", "-", ",", "{", "--", "ENV", "env") or i == 0


def _looks_complex(value: str) -> bool:
    """A value that reads like a chosen secret rather than a word: mixes classes or has digits/symbols."""
    return len(value) >= 6 and (
        (char_classes(value) >= 2 and not value[1:].islower()) or any(c.isdigit() for c in value)
    )


def password_name_ok(suffix: str) -> bool:
    """False for names that hold something about a password (``password_hash``, ``PASSWORD_FILE``, ``_min_length``)."""
    return not suffix or suffix.lower() in _PW_OK_SUFFIXES or not _PW_BAD_SUFFIX.search(suffix)


def password_value_confidence(value: str, *, quoted: bool, form: str, kv_line: bool, short_key: bool) -> float | None:
    """How likely ``value``, named by a password word, is the password; None for placeholders, code and prose.

    ``form``: "assign" (``key = value``), "verb"/"clause" ("the password is X"), "bare"/"paren" ("password X").
    """
    if not value or is_placeholder(value) or _KEY_IN_VALUE.search(value):
        return None  # "password=password=…": a second key inside the value means we misread the line
    low = value.lower()
    if value[0] == "/" or low.startswith(("~/", "./", "http://", "https://", "file:")):
        return None  # a path or link (PWD=/home/me is the working directory)
    if not quoted and is_code_expression(value):
        return None
    if _IDENTIFIER.fullmatch(value) and ("pass" in low or "pwd" in low) and ("_" in value or value.islower()):
        return None  # password=password, passwd=new_password: a variable, not a literal
    complex_value = _looks_complex(value)
    word = low.rstrip(".,!?;:")
    if form in ("bare", "paren"):
        if not complex_value or word in _PROSE_STOPWORDS:
            return None
        confidence = 0.75
    elif form in ("verb", "clause"):
        if word in _PROSE_STOPWORDS:
            return None
        confidence = 0.8 if complex_value or quoted else 0.45  # "the password is swordfish" vs prose
    else:
        confidence = 0.9 if quoted or kv_line else 0.85
        if not complex_value and not quoted and value.isalpha() and value.islower() and not kv_line:
            confidence = 0.45  # "password: click here": prose after a colon
    if short_key:
        confidence -= 0.05
    if low in WEAK_DEFAULT_PASSWORDS:
        confidence = min(confidence, 0.45)  # "changeme", "admin": more often documentation than a leak
    return confidence


def _build_password(text: str, m: re.Match[str]) -> Detection | None:
    value = m.group("val")
    start, end = m.span("val")
    quoted = start > 0 and text[start - 1] in "\"'`"
    if not password_name_ok(m.group("ksuf")):
        return None
    assign = m.group("assign")
    if assign is not None and assign.strip() == ">" and not text.startswith("</", end):
        return None  # only <password>value</password>; "<password>" alone is a placeholder
    form = "assign" if assign is not None else "clause" if m.group("clause") else ""
    form = form or ("verb" if m.group("verb") else "paren" if m.group("paren") is not None else "bare")
    key_word = m.group("key").lower()
    if form in ("bare", "paren") and key_word == "pw":
        return None
    kv_line = _line_start_key(text, m.start())
    if not quoted:
        if form == "paren" or (value.endswith(")") and "(" not in value):
            value = value.rstrip(")")
        if value.endswith(".") and len(value) > 1 and not kv_line and _SENTENCE_END.match(text, end):
            value = value[:-1]  # the full stop of a sentence
        end = start + len(value)
    confidence = password_value_confidence(
        value, quoted=quoted, form=form, kv_line=kv_line, short_key=key_word in ("pw", "pass", "pwd")
    )
    if confidence is None:
        return None
    return detection("password", start, end, confidence, "password.context")


PASSWORD_RULE = Rule(
    name="password",
    types=("password",),
    regex=_PASSWORD,
    build=_build_password,
    prefilters=(
        Prefilter(
            r"pass|pwd|pw[ \t]{0,3}[:=]|kennwort|wachtwoord|senha|contrase|mot[ _\-]?de[ _\-]?passe",
            before=13,
            after=400,
            caseless=True,
        ),
    ),
    reach=420,
    anchor=re.compile(r"pass|pwd|pw|kennwort|wachtwoord|senha|contrase|mot"),
)

_SQL_PASSWORD = re.compile(
    r"(?ai:identified[ \t]{1,3}by)[ \t]{1,3}(?:(?ai:password)[ \t]{1,3})?'(?P<val>[^'\r\n]{1,128})'"
)


def _build_sql_password(text: str, m: re.Match[str]) -> Detection | None:
    if is_placeholder(m.group("val")):
        return None
    start, end = m.span("val")
    return detection("password", start, end, 0.9, "password.sql")


SQL_PASSWORD_RULE = Rule(
    name="password.sql",
    types=("password",),
    regex=_SQL_PASSWORD,
    build=_build_sql_password,
    prefilters=(Prefilter(r"identified[ \t]{1,3}by", before=16, after=150, caseless=True),),
    reach=170,
)

# Credentials in any other URL: https://user:secret@host/ — the password part only.
_URL_USERINFO = re.compile(
    r"(?<![\w+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,20}://(?P<user>[^\s:/@\"'<>]{1,128}):(?P<val>[^\s/@\"'<>]{1,256})@"
    r"(?=[A-Za-z0-9\[])"
)


def _build_url_password(text: str, m: re.Match[str]) -> Detection | None:
    value = m.group("val")
    if is_placeholder(value) or value.startswith(("$", "%24")):
        return None
    start, end = m.span("val")
    confidence = 0.45 if value.lower() in WEAK_DEFAULT_PASSWORDS else 0.85
    return detection("password", start, end, confidence, "password.url")


URL_PASSWORD_RULE = Rule(
    name="password.url",
    types=("password",),
    regex=_URL_USERINFO,
    build=_build_url_password,
    prefilters=(Prefilter(r"://[^\s:/@\"'<>]{1,128}:[^\s/@\"'<>]{1,256}@", before=22 + 3 + 128 + 258, after=1),),
    reach=22 + 3 + 128 + 258,
)


PASSWORD_RULES: tuple[Rule, ...] = (PASSWORD_RULE, SQL_PASSWORD_RULE, URL_PASSWORD_RULE)
