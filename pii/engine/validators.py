"""Validators: cheap, exact checks that run only on candidates a pattern already found.

Everything here is pure Python and side-effect free; every function is bounded by the length of
its (already bounded) argument.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections import Counter

# --------------------------------------------------------------------------------------------
# Checksums and national-number rules

# Doubled-digit table for Luhn: index = digit, value = 2·digit with digits summed.
_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check of a string of ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    double = False
    for ch in reversed(digits):
        d = ord(ch) - 48
        total += _LUHN_DOUBLE[d] if double else d
        double = not double
    return total % 10 == 0


# Numbers that pass the SSA rules but are famous non-personal values: the Woolworth wallet card,
# the 1940s SSA advertisement, the textbook sequence, and all-same-digit test fillers.
_FAKE_SSNS = frozenset(
    {"078051120", "219099999", "123456789", "987654320", "457555462", "002281852", "042103580", "062360749"}
)


def ssn_valid(digits: str) -> bool:
    """SSA rules for a 9-digit SSN: area not 000/666/900-999, group not 00, serial not 0000, not a famous fake."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in _FAKE_SSNS and len(set(digits)) > 1


# (prefix range low, high, allowed lengths, brand) — the IIN table of the major networks.
_IIN_RANGES: tuple[tuple[int, int, tuple[int, ...], str], ...] = (
    (4, 4, (13, 16, 19), "visa"),
    (51, 55, (16,), "mastercard"),
    (2221, 2720, (16,), "mastercard"),
    (34, 34, (15,), "amex"),
    (37, 37, (15,), "amex"),
    (6011, 6011, (16, 19), "discover"),
    (644, 649, (16, 19), "discover"),
    (65, 65, (16, 19), "discover"),
    (3528, 3589, (16, 17, 18, 19), "jcb"),
    (2131, 2131, (15,), "jcb"),  # JCB's older 15-digit ranges
    (1800, 1800, (15,), "jcb"),
    (300, 305, (14, 16, 19), "diners"),
    (36, 36, (14, 16, 19), "diners"),
    (38, 39, (14, 16, 19), "diners"),
    (62, 62, (16, 17, 18, 19), "unionpay"),
    (50, 50, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (56, 58, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (639, 639, (16, 19), "maestro"),
    (6759, 6759, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (6761, 6763, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (6304, 6304, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (2200, 2204, (16, 17, 18, 19), "mir"),
)


def card_brand(digits: str) -> str | None:
    """The card network whose IIN range and length fit ``digits``, else None."""
    n = len(digits)
    if digits.startswith("0604") and 12 <= n <= 19:
        return "maestro"  # the one range with a leading zero
    for low, high, lengths, brand in _IIN_RANGES:
        width = len(str(low))
        if n in lengths and low <= int(digits[:width]) <= high:
            return brand
    return None


# --------------------------------------------------------------------------------------------
# IP addresses


def parse_ipv4(candidate: str) -> ipaddress.IPv4Address | None:
    """A dotted-quad IPv4 address (no leading zeros, each part ≤ 255), else None."""
    try:
        return ipaddress.IPv4Address(candidate)
    except ValueError:
        return None


def parse_ipv6(candidate: str) -> ipaddress.IPv6Address | None:
    """An IPv6 address in any RFC 4291 text form (compressed, with embedded IPv4), else None."""
    if candidate.count(":") < 2:
        return None
    try:
        return ipaddress.IPv6Address(candidate)
    except ValueError:
        return None


def ip_is_special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, unspecified, multicast, broadcast-ish: addresses that identify nobody."""
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or (ip.is_link_local and ip.version == 4):
        return True
    return ip.version == 4 and (str(ip).startswith("255.") or str(ip).endswith(".255"))


# --------------------------------------------------------------------------------------------
# Token structure: base64, JWT, PEM


def b64url_decode(part: str) -> bytes | None:
    """Decode unpadded base64url, or None if it is not valid base64url."""
    if not part or len(part) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes | None) -> dict[str, object] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def jwt_structure(token: str) -> float:
    """How much ``token`` looks like a real JWS: 0 = not one, 1 = header with alg and typ, object payload, signature."""
    parts = token.split(".")
    if len(parts) != 3:
        return 0.0
    header = _json_object(b64url_decode(parts[0]))
    if header is None or not isinstance(header.get("alg"), str):
        return 0.0
    payload = _json_object(b64url_decode(parts[1]))
    if payload is None:
        return 0.3  # a JWT-shaped header whose payload is not a JSON object: JWE or garbage
    score = 0.9
    if "typ" in header or "kid" in header:
        score += 0.05
    alg = str(header["alg"]).lower()
    if parts[2] and b64url_decode(parts[2]) is not None:
        score += 0.05
    elif alg != "none":
        score -= 0.2  # a signed token without a signature is a truncated or hand-made example
    return score


_PEM_ARMOR_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,30}:")
_B64_BODY = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_ESCAPED_NEWLINE = re.compile(r"\\+[nr]")


def pem_body_ok(body: str) -> bool:
    """True if a PEM/PGP armored body is base64 (after armor headers and the PGP CRC line), long enough for a key."""
    # Bodies arrive raw, JSON-escaped once or twice ("\\n", "\\\\n") or indented (YAML): normalise all.
    body = _ESCAPED_NEWLINE.sub("\n", body)
    chunks: list[str] = []
    for raw_line in body.split("\n"):
        line = raw_line.strip().strip("\"'|>").strip()
        if not line or _PEM_ARMOR_HEADER.match(line):
            continue
        if line.startswith("=") and len(line) <= 6:  # PGP armor checksum
            continue
        chunks.append(line)
    data = "".join(chunks)
    return len(data) >= 40 and _B64_BODY.fullmatch(data) is not None


# --------------------------------------------------------------------------------------------
# Randomness


def shannon_entropy(value: str) -> float:
    """Bits of Shannon entropy per character."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower case, upper case, digits and other symbols occur in ``value``."""
    lower = upper = digit = other = 0
    for ch in value:
        if "a" <= ch <= "z":
            lower = 1
        elif "A" <= ch <= "Z":
            upper = 1
        elif "0" <= ch <= "9":
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other


def is_low_entropy_filler(value: str) -> bool:
    """``xxxxxxxx``, ``XXXX…``, ``0000…``, ``abcabc…``: placeholders that only look like keys."""
    if len(value) < 8:
        return True
    distinct = len(set(value))
    return distinct <= 3 or distinct <= len(value) // 8 or shannon_entropy(value) < 2.5


_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


def is_uuid(value: str) -> bool:
    return len(value) == 36 and _UUID.fullmatch(value) is not None


def is_hex(value: str) -> bool:
    return _HEX.fullmatch(value) is not None


def is_digest_length_hex(value: str) -> bool:
    """Hex of a common digest length (md5, sha1/git, sha224, sha256, sha384, sha512)."""
    return len(value) in (32, 40, 56, 64, 96, 128) and is_hex(value)


# --------------------------------------------------------------------------------------------
# Context words


def window_before(text: str, start: int, width: int = 40) -> str:
    """Lower-cased text just before ``start`` (at most ``width`` characters, not past the previous line)."""
    chunk = text[max(0, start - width) : start]
    cut = chunk.rfind("\n")
    if cut >= 0 and cut < len(chunk) - 1:
        chunk = chunk[cut + 1 :]
    return chunk.lower()


def window_after(text: str, end: int, width: int = 30) -> str:
    """Lower-cased text just after ``end`` (same line only)."""
    chunk = text[end : end + width]
    cut = chunk.find("\n")
    if cut >= 0:
        chunk = chunk[:cut]
    return chunk.lower()


def words_pattern(*words: str) -> re.Pattern[str]:
    """A compiled search for any of ``words`` (lower case) as whole words, for the context helpers."""
    alternation = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternation})(?![a-z])")


def has_context(pattern: re.Pattern[str], text: str, start: int, end: int, before: int = 40, after: int = 0) -> bool:
    """True if ``pattern`` (from :func:`words_pattern`) occurs near ``text[start:end]``."""
    if pattern.search(window_before(text, start, before)):
        return True
    return after > 0 and pattern.search(window_after(text, end, after)) is not None


# --------------------------------------------------------------------------------------------
# Placeholders (values that name a secret instead of being one)

_PLACEHOLDER_WORDS = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "true",
        "false",
        "required",
        "optional",
        "string",
        "str",
        "text",
        "redacted",
        "[redacted]",
        "removed",
        "hidden",
        "masked",
        "filtered",
        "[filtered]",
        "secret",
        "password",
        "passwd",
        "your_password",
        "yourpassword",
        "your-password",
        "mypassword",
        "my_password",
        "placeholder",
        "example",
        "todo",
        "tbd",
        "n/a",
        "na",
        "xxx",
        "value",
        "env",
        "empty",
        "notset",
        "not_set",
        "unset",
        "omitted",
        "sensitive",
        "dummy",
        "test",
        "sample",
        "your_api_key",
        "your_api_key_here",
        "api_key",
        "apikey",
        "token",
        "your_token",
        "your_token_here",
        "insert_here",
        "change_me_later",
    }
)
_PLACEHOLDER_SHAPES = re.compile(
    r"""
    [*•·x.#_?-]{3,}                  # ******, xxxx, ...., ####, ___
    | <[^<>]{0,60}>                  # <password>, <your-api-key>
    | \$\{[^{}]{0,80}\}? | \$\(.{0,80} | \$[A-Za-z_][A-Za-z0-9_]{0,60}   # ${VAR}, $(cmd), $VAR
    | \{\{.{0,80} | \{%.{0,80} | \{[A-Za-z_][A-Za-z0-9_.]{0,60}\}         # {{ jinja }}, {name}
    | %\(?[A-Za-z_]{0,40}\)?s | %s   # printf templates
    | \[[A-Za-z _-]{1,40}\]          # [REDACTED], [hidden]
    | (?:your|enter|insert|replace)[-_ ]?(?:[a-z]{1,12}[-_ ]){0,4}(?:here|key|token|password|secret|value|me)
    """,
    re.VERBOSE | re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    """True for template variables, masks and words that stand for a secret (``${DB_PASSWORD}``, ``****``, ``<pw>``)."""
    v = value.strip()
    low = v.lower()
    if low in _PLACEHOLDER_WORDS:
        return True
    if _PLACEHOLDER_SHAPES.fullmatch(v):
        return True
    # Masked values keep a character or two of the secret: "ab****yz".
    return v.count("*") >= 3 or v.count("•") >= 3


_CODE_EXPRESSION = re.compile(
    r"""
    [A-Za-z_]{1,60}[0-9]{0,3}(?:\.[A-Za-z_]{1,60}[0-9]{0,3}){1,6}[(\[]?     # settings.KEY, os.environ[ (not p4ss.W0rd)
    | [A-Za-z_][A-Za-z0-9_]{0,60}[(\[].{0,200}                                 # getenv("X"), env['X']
    | (?:Optional|Union|list|dict|str|int|bytes|bool|None|SecretStr|String|char|Any)\b.{0,40}  # type hints
    """,
    re.VERBOSE | re.DOTALL,
)


def is_code_expression(value: str) -> bool:
    """True for values that are program expressions (attribute access, calls, indexing, type hints), not literals."""
    return _CODE_EXPRESSION.fullmatch(value) is not None


# Well-known default passwords: real credentials when deployed, but often written in docs as examples.
WEAK_DEFAULT_PASSWORDS = frozenset(
    {
        "changeme",
        "change_me",
        "changeit",
        "admin",
        "root",
        "toor",
        "guest",
        "letmein",
        "welcome",
        "123456",
        "12345678",
        "qwerty",
        "pass",
        "pass123",
        "password1",
        "password123",
        "postgres",
        "mysql",
        "default",
        "foobar",
        "hunter2",
    }
)
