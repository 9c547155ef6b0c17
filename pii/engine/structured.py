"""Detectors for identity and contact data: email, ssn, credit_card, phone, ip_address.

Secrets (api_key, jwt, aws_key, github_token, password, private_key, database_url) live in
:mod:`pii.engine.credentials` and :mod:`pii.engine.passwords`, values named by a table column in
:mod:`pii.engine.keyed`; :data:`pii.engine.keyed.STRUCTURED_RULES` is the union the scanner runs.

Every regex here is linear: bounded repetitions only, and no two adjacent repeats that can
share characters without a separator between them.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address

from pii.engine.rules import Prefilter, Rule, detection
from pii.engine.types import Detection
from pii.engine.validators import (
    card_brand,
    has_context,
    ip_is_special,
    luhn_valid,
    parse_ipv4,
    parse_ipv6,
    ssn_valid,
    window_after,
    window_before,
    words_pattern,
)

# --------------------------------------------------------------------------------------------
# email

_EMAIL = re.compile(
    r"(?<![\w.%+\-@/])"
    r"(?P<local>[\w.%+\-]{1,64})@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,6}(?P<tld>[A-Za-z]{2,24}))"
    r"(?![\w\-@]|\.[A-Za-z0-9])"
)
# "icon@2x.png", "lib@1.2.js": file names, not mailboxes.
_FILE_EXTENSIONS = """png jpg jpeg gif svg webp ico bmp tif tiff js mjs ts tsx jsx css scss map json py pyc rb go rs
    java kt txt md rst html htm xml yaml yml toml ini cfg conf lock log pdf zip gz tgz tar bz2 xz bin exe dll so dylib
    woff woff2 ttf otf eot mp3 mp4 wav mov avi csv tsv sql db sqlite php sh bat ps1 min"""
_FILE_TLDS = frozenset(_FILE_EXTENSIONS.split())
_EMAIL_CONTEXT = words_pattern("email", "e-mail", "mail", "contact", "cc", "to", "from", "reply", "send", "sent")


def _build_email(text: str, m: re.Match[str]) -> Detection | None:
    local = m.group("local")
    if local[0] == "." or local[-1] == "." or ".." in local:
        return None
    tld = m.group("tld")
    if tld.lower() in _FILE_TLDS or not (tld.islower() or tld.isupper()):
        return None  # "icon@2x.png"; "…@Lx6VspB2MbOe.dX" is a random string, not a domain
    start, end = m.span()
    if start and text[start - 1] == ":":
        # "scheme://user:pass@host": URL userinfo, not a mailbox (database URLs are their own type).
        line_start = max(0, start - 300)
        token = text[line_start:start]
        cut = max(token.rfind(" "), token.rfind("\n"), token.rfind('"'), token.rfind("'"))
        if "://" in token[cut + 1 :]:
            return None
    after = text[end : end + 2]
    if after[:1] == ":" and after[1:2] and after[1:2] not in "0123456789 \t\r\n":
        return None  # scp-style remote: git@github.com:org/repo.git
    confidence = 0.9
    if has_context(_EMAIL_CONTEXT, text, start, end):
        confidence += 0.05
    return detection("email", start, end, confidence, "email.regex")


EMAIL_RULE = Rule(
    name="email",
    types=("email",),
    regex=_EMAIL,
    build=_build_email,
    # '@' then the domain: SOM gives the '@', the report comes 2 letters into a label after a dot.
    prefilters=(Prefilter(r"@(?:[A-Za-z0-9\-]{1,63}\.){1,6}[A-Za-z]{2}", before=65, after=23, som=True),),
    reach=64 + 1 + 6 * 64 + 24,
)

# --------------------------------------------------------------------------------------------
# ssn

_SSN_FORMATTED = re.compile(
    r"(?<![\w\-.])(?P<area>[0-9]{3})(?P<sep>[\- ])(?P<group>[0-9]{2})(?P=sep)(?P<serial>[0-9]{4})(?![\w]|[\-.][0-9])"
)
_SSN_KEYWORD = r"(?:(?<![A-Za-z])ssn|social[\s_\-]?security|soc[\s_.\-]{0,2}sec|(?<![A-Za-z])ss[\s_\-]?(?:#|no\b|num))"
_SSN_BARE = re.compile(rf"(?ai:{_SSN_KEYWORD})[^0-9\n]{{0,30}}(?<![0-9])(?P<num>[0-9]{{9}})(?![0-9A-Za-z]|[\-.][0-9])")
_SSN_CONTEXT = words_pattern("ssn", "ssns", "social", "security", "soc", "ss#", "tin", "itin", "taxpayer")
_ID_NEGATIVE = words_pattern(
    "order",
    "invoice",
    "tracking",
    "ref",
    "reference",
    "case",
    "claim",
    "part",
    "sku",
    "serial",
    "ticket",
    "isbn",
    "po",
    "item",
    "model",
    "build",
)


def _build_ssn(text: str, m: re.Match[str]) -> Detection | None:
    digits = m.group("area") + m.group("group") + m.group("serial")
    if not ssn_valid(digits):
        return None
    start, end = m.span()
    if m.group("sep") == " ":
        # "ddd dd dddd" inside a longer run of spaced numbers is a table row, not an SSN.
        if (start >= 2 and text[start - 2].isdigit()) or text[end + 1 : end + 2].isdigit():
            return None
        confidence = 0.45
    else:
        confidence = 0.75
    if has_context(_SSN_CONTEXT, text, start, end, before=48):
        confidence += 0.2
    elif has_context(_ID_NEGATIVE, text, start, end, before=32):
        confidence -= 0.3
    return detection("ssn", start, end, confidence, "ssn.format")


def _build_ssn_bare(text: str, m: re.Match[str]) -> Detection | None:
    if not ssn_valid(m.group("num")):
        return None
    start, end = m.span("num")
    return detection("ssn", start, end, 0.7, "ssn.context")


SSN_RULE = Rule(
    name="ssn",
    types=("ssn",),
    regex=_SSN_FORMATTED,
    build=_build_ssn,
    prefilters=(Prefilter(r"[0-9]{3}[\- ][0-9]{2}[\- ][0-9]{4}", before=11, after=0),),
    reach=11,
)
SSN_CONTEXT_RULE = Rule(
    name="ssn.context",
    types=("ssn",),
    regex=_SSN_BARE,
    build=_build_ssn_bare,
    prefilters=(
        Prefilter(r"ssn|social[\s_\-]?security|soc[\s_.\-]{0,2}sec|ss[\s_\-]?(?:#|no|num)", 17, 45, caseless=True),
    ),
    reach=17 + 30 + 9,
    anchor=re.compile(r"ssn|social|soc|ss"),
)

# --------------------------------------------------------------------------------------------
# credit_card

_CARD = re.compile(
    r"(?<![\w\-.])"
    r"(?:[0-9]{12,19}"
    r"|[0-9]{4}(?P<s1>[ \-])[0-9]{4}(?P=s1)[0-9]{4}(?P=s1)[0-9]{1,4}(?:(?P=s1)[0-9]{1,3})?"
    r"|[0-9]{4}(?P<s2>[ \-])[0-9]{6}(?P=s2)[0-9]{4,5})"
    r"(?![\w]|[\-.][0-9])"
)
_CARD_CONTEXT = words_pattern(
    "card",
    "cards",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "discover",
    "jcb",
    "diners",
    "cc",
    "pan",
    "payment",
    "paid",
    "pay",
    "charge",
    "cvv",
    "cvc",
    "exp",
    "expiry",
    "cardholder",
    "refund",
    "billing",
)
_CARD_NEGATIVE = words_pattern(
    "order",
    "invoice",
    "tracking",
    "ref",
    "reference",
    "isbn",
    "imei",
    "serial",
    "ts",
    "epoch",
    "timestamp",
    "id",
    "trace",
    "span",
    "account",
    "iban",
    "transaction",
)


def _build_card(text: str, m: re.Match[str]) -> Detection | None:
    raw = m.group()
    digits = raw.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or not luhn_valid(digits) or len(set(digits)) == 1:
        return None
    start, end = m.span()
    grouped = len(digits) != len(raw)
    brand = card_brand(digits)
    if len(digits) == 12 and not brand:
        return None  # only Maestro issues 12-digit cards
    # Luhn alone passes one random number in ten: unknown-IIN runs are mostly timestamps and ids.
    unknown_brand = 0.35 if grouped else 0.15
    confidence = (0.85 if grouped or len(digits) in (15, 16) else 0.7) if brand else unknown_brand
    if len(digits) == 12:
        confidence = 0.3  # a 12-digit Maestro number is a card only where the text says so
    if has_context(_CARD_CONTEXT, text, start, end, before=48, after=16):
        confidence += 0.3 if not brand or len(digits) == 12 else 0.1
        if not brand and len(digits) in (15, 16):
            confidence += 0.05  # "card 3598 8993 2305 3410": a card of a range we do not list
    elif has_context(_CARD_NEGATIVE, text, start, end, before=32):
        confidence -= 0.3
    return detection("credit_card", start, end, confidence, "credit_card.luhn")


CARD_RULE = Rule(
    name="credit_card",
    types=("credit_card",),
    regex=_CARD,
    build=_build_card,
    prefilters=(
        # The character before the number is part of the prefilter so a long digit run reports once.
        Prefilter(r"(?:^|[^0-9A-Za-z_.\-])[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}", before=15, after=12),
        Prefilter(r"(?:^|[^0-9A-Za-z_.\-])[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4}", before=17, after=2),
    ),
    reach=23,
)

# --------------------------------------------------------------------------------------------
# phone

_NANP = re.compile(
    r"(?<![\w+.\-/#])"
    r"(?:(?P<cc>\+?1)[ .\-]?)?"
    r"(?:\((?P<pa>[2-9][0-9]{2})\)[ .\-]?|(?P<a>[2-9][0-9]{2})(?P<s>[ .\-]))"
    r"(?P<ex>[0-9]{3})(?(s)(?P=s)|[ .\-])(?P<line>[0-9]{4})"
    r"(?![\w]|[.\-][0-9])"
)
_INTL = re.compile(
    r"(?<![\w+])\+"
    r"(?:(?P<cc>[1-9][0-9]{0,3})(?P<rest>(?:[ .\-]{1,2}(?:\([0-9]{1,4}\)[ ]?)?[0-9]{1,10}){1,6})"
    r"|(?P<plain>[1-9][0-9]{7,14}))"
    r"(?![\w]|[.\-][0-9])"
)
_PHONE_WORDS = (
    r"phone|tel(?:ephone)?|mobile|cell|call(?:back|er)?|fax|sms|whatsapp|voicemail|hotline|contact|desk|landline"
    r"|messages to|answering at"
)
_PHONE_KEYWORD = rf"(?<![A-Za-z])(?:{_PHONE_WORDS})"
_PHONE_BY_CONTEXT = re.compile(
    # the number on the same line, or alone on the next one ("Phone:\n  0393 1144137")
    rf"(?ai:{_PHONE_KEYWORD})[A-Za-z_]{{0,12}}[^0-9\n+(]{{0,30}}(?:\n[ \t]{{0,4}})?"
    r"(?<![\w.\-])(?P<num>\+?(?:\([0-9]{1,5}\)|[0-9])[0-9 ().\-]{5,18}[0-9])"
    r"(?![\w]|[.\-/:][0-9])"
)
_PHONE_CONTEXT = words_pattern(
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "fax",
    "sms",
    "text",
    "whatsapp",
    "voicemail",
    "contact",
    "reach",
    "dial",
    "number",
    "callback",
    "caller",
    "ph",
)
_PHONE_NEGATIVE = words_pattern(
    "order",
    "invoice",
    "tracking",
    "ref",
    "reference",
    "isbn",
    "serial",
    "id",
    "ticket",
    "case",
    "part",
    "sku",
    "account",
    "acct",
    "version",
    "build",
    "ssn",
    "social",
    "zip",
)
_INTL_GROUP = re.compile(r"[ .\-]{1,2}(?:\([0-9]{1,4}\)[ ]?)?[0-9]{1,10}")
_PHONE_GAP_NEGATIVE = words_pattern(
    "ref",
    "reference",
    "order",
    "invoice",
    "part",
    "sku",
    "serial",
    "ticket",
    "case",
    "account",
    "acct",
    "isbn",
    "tracking",
    "version",
    "build",
    "ssn",
    "zip",
    "po",
)
_FRENCH_DOTTED = re.compile(r"0[1-9](?:\.[0-9]{2}){4}")
_SSN_SHAPE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
_DATE_LIKE = re.compile(
    r"(?:19|20)[0-9]{2}[\-./ ][01]?[0-9][\-./ ][0-3]?[0-9]|[0-3]?[0-9][\-./][01]?[0-9][\-./](?:19|20)?[0-9]{2}"
)


def _phone_confidence(text: str, start: int, end: int, base: float) -> float:
    if has_context(_PHONE_CONTEXT, text, start, end, before=40):
        return base + 0.2
    if has_context(_PHONE_NEGATIVE, text, start, end, before=24):
        return base - 0.3
    return base


def _build_nanp(text: str, m: re.Match[str]) -> Detection | None:
    start, end = m.span()
    sep = m.group("s")
    if m.group("pa"):
        base = 0.75
    elif sep == "-":
        base = 0.7
    elif sep == ".":
        base = 0.6
    else:
        base = 0.5
    if m.group("cc"):
        base += 0.1
    if m.group("ex")[0] in "01":
        base -= 0.1  # not a dialable exchange, but "555-123-4567" is how people write example numbers
    return detection("phone", start, end, _phone_confidence(text, start, end, base), "phone.nanp")


def _build_intl(text: str, m: re.Match[str]) -> Detection | None:
    start, end = m.span()
    raw = m.group()
    digits = sum(ch.isdigit() for ch in raw)
    if digits < 8 or (digits > 15 and m.group("plain")):
        return None  # too short for a subscriber number, or a long bare number
    if m.group("plain"):
        base = 0.65
    else:
        # Separator-led groups after the country code; a later "(…)" or going past 15 digits starts the next number.
        cc, rest = m.group("cc"), m.group("rest")
        groups: list[str] = []
        count, pos = len(cc), 0
        while pos < len(rest):
            gm = _INTL_GROUP.match(rest, pos)
            if gm is None:
                break
            group_digits = sum(ch.isdigit() for ch in gm.group())
            if count + group_digits > 15 or (groups and "(" in gm.group()):
                break
            groups.append(gm.group())
            count += group_digits
            pos = gm.end()
        end = m.start("rest") + pos
        raw = text[start:end]
        digits = count
        if digits < 8 or not groups:
            return None
        if len(groups) == 1 and sum(ch.isdigit() for ch in groups[0]) < 6:
            return None  # "+44 12": too short to be a subscriber number
        base = 0.75
    if raw.startswith("+1") and (m.group("cc") == "1" or m.group("plain")):
        national = "".join(ch for ch in raw[2:] if ch.isdigit())
        if len(national) != 10 or national[0] in "01":
            base -= 0.3  # "+1" must be followed by a valid NANP number
    return detection("phone", start, end, _phone_confidence(text, start, end, base), "phone.intl")


def phone_number_confidence(num: str) -> float | None:
    """How phone-like a number named by a phone word is (national formats included), or None if it is not one."""
    digits = "".join(ch for ch in num if ch.isdigit())
    if not 7 <= len(digits) <= 15 or not num.isascii():
        return None
    if num.count("(") != num.count(")") or "--" in num or ".." in num:
        return None
    if _DATE_LIKE.fullmatch(num) or _SSN_SHAPE.fullmatch(num):
        return None  # dates, SSN-shaped references
    if num.count(".") >= 3 and not _FRENCH_DOTTED.fullmatch(num):
        return None  # dotted versions and addresses; "01.84.17.61.18" is how France writes numbers
    if num.isdigit() and len(num) in (10, 13) and num[0] == "1":
        return None  # an epoch timestamp in seconds or milliseconds
    confidence = 0.5
    if not num.isdigit():
        confidence += 0.15  # has phone-style grouping
    if num[0] in "+0(":
        confidence += 0.1  # international or trunk prefix
    return confidence


def _build_phone_context(text: str, m: re.Match[str]) -> Detection | None:
    start, end = m.span("num")
    if _PHONE_GAP_NEGATIVE.search(text[m.start() : start].lower()):
        return None  # "call ref=978-18-7196": the number is named by the nearer word
    confidence = phone_number_confidence(m.group("num"))
    return None if confidence is None else detection("phone", start, end, confidence, "phone.context")


NANP_RULE = Rule(
    name="phone.nanp",
    types=("phone",),
    regex=_NANP,
    build=_build_nanp,
    # Ends one past the number: "345 200 1234ms" in access logs is not a phone number.
    prefilters=(Prefilter(r"[0-9]{3}\)?[ .\-]{0,2}[0-9]{3}[ .\-][0-9]{4}(?:[^0-9A-Za-z_]|$)", before=21, after=0),),
    reach=20,
)
INTL_RULE = Rule(
    name="phone.intl",
    types=("phone",),
    regex=_INTL,
    build=_build_intl,
    prefilters=(
        Prefilter(r"\+[1-9][0-9]{0,3}[ .\-]{1,2}[(0-9]", before=9, after=125),
        Prefilter(r"\+[1-9][0-9]{7}", before=9, after=8),
    ),
    reach=1 + 4 + 6 * 19,
    anchor=re.compile(r"\+"),
)
PHONE_CONTEXT_RULE = Rule(
    name="phone.context",
    types=("phone",),
    regex=_PHONE_BY_CONTEXT,
    build=_build_phone_context,
    # The keyword, then the first character of a number on the same line or the next.
    prefilters=(
        Prefilter(
            rf"(?:{_PHONE_WORDS})[^0-9\n+(]{{0,42}}(?:\n[ \t]{{0,4}})?[+(0-9]", before=61, after=28, caseless=True
        ),
    ),
    reach=12 + 12 + 30 + 5 + 28,
    anchor=re.compile(_PHONE_WORDS),
)

# --------------------------------------------------------------------------------------------
# ip_address

_IPV4 = re.compile(r"(?<![\w.\-])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w\-]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![\w:.])"
    r"(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
    r"(?:%[A-Za-z0-9]{1,15})?"
    r"(?![\w:]|\.[0-9])"
)
_VERSION_BEFORE = re.compile(r"(?:\bv|version|ver|release|build|rev|firmware|fw|os|sdk|api|tag)[\s:=#/]{0,3}$")
_IP_NOT_CONTEXT = words_pattern("oid", "oids", "extension", "policy", "asn", "semver", "version")
_IP_CONTEXT = words_pattern(
    "ip",
    "ips",
    "ipv4",
    "ipv6",
    "addr",
    "address",
    "host",
    "client",
    "remote",
    "source",
    "src",
    "dst",
    "peer",
    "from",
    "forwarded",
    "server",
    "gateway",
    "connect",
    "connection",
    "ssh",
    "ping",
    "whitelisted",
    "blocked",
)


def _ip_confidence(
    text: str, start: int, end: int, ip: IPv4Address | IPv6Address, public: float, private: float
) -> float:
    if ip_is_special(ip):
        confidence = 0.3
    elif ip.is_private:
        confidence = private
    else:
        confidence = public
    if has_context(_IP_CONTEXT, text, start, end, before=32):
        confidence += 0.1
    return confidence


def _build_ipv4(text: str, m: re.Match[str]) -> Detection | None:
    start, end = m.span()
    ip = parse_ipv4(m.group())
    if ip is None:
        return None
    before = window_before(text, start, 24)
    if _VERSION_BEFORE.search(before) or has_context(_IP_NOT_CONTEXT, text, start, end, before=24):
        return None
    if start >= 2 and text[start - 1] == "/" and text[start - 2].isalnum():
        return None  # a product token: "Chrome/120.0.0.0"
    if window_after(text, end, 2).startswith(("-r", "-b", "-a", "+")):
        return None  # "1.2.3.4-rc1", "1.2.3.4+build": a version
    octets = m.group().split(".")
    public, private = 0.85, 0.7
    if all(len(o) == 1 for o in octets):
        public = private = 0.5  # "1.2.3.4": as often a version or an example as an address
    return detection("ip_address", start, end, _ip_confidence(text, start, end, ip, public, private), "ip_address.v4")


def _build_ipv6(text: str, m: re.Match[str]) -> Detection | None:
    raw = m.group()
    address = raw.split("%", 1)[0]
    colons = address.count(":")
    if "::" not in address and colons != 7 and not (colons == 6 and "." in address):
        return None  # clock times, MAC addresses, C++ scopes
    if not any(ch.isdigit() for ch in address) or sum(ch not in ":." for ch in address) < 2:
        return None
    ip = parse_ipv6(address)
    if ip is None:
        return None
    start, end = m.span()
    return detection("ip_address", start, end, _ip_confidence(text, start, end, ip, 0.85, 0.7), "ip_address.v6")


IPV4_RULE = Rule(
    name="ip_address.v4",
    types=("ip_address",),
    regex=_IPV4,
    build=_build_ipv4,
    prefilters=(Prefilter(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]", before=13, after=2),),
    reach=15,
)
IPV6_RULE = Rule(
    name="ip_address.v6",
    types=("ip_address",),
    regex=_IPV6,
    build=_build_ipv6,
    prefilters=(
        Prefilter(r"\b[0-9A-Fa-f]{1,4}::|::[0-9A-Fa-f]{1,4}\b", before=72, after=72),
        Prefilter(r"[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){5}:", before=72, after=72),
    ),
    reach=4 + 7 * 5 + 16 + 16,
)

CONTACT_RULES: tuple[Rule, ...] = (
    EMAIL_RULE,
    SSN_RULE,
    SSN_CONTEXT_RULE,
    CARD_RULE,
    NANP_RULE,
    INTL_RULE,
    PHONE_CONTEXT_RULE,
    IPV4_RULE,
    IPV6_RULE,
)
