"""Detectors for secrets: api_key, jwt, aws_key, github_token, private_key, database_url (passwords: passwords.py).

Prefixed tokens (``ghp_``, ``AKIA``, ``sk_live_``, ``eyJ…``, PEM armour) are found by their
shape and validated by structure or entropy; bare secrets (passwords, generic keys, AWS secret
access keys) only next to a word that names them. Placeholders (``${VAR}``, ``<password>``,
``****``, ``YOUR_API_KEY``) and program expressions (``os.environ["X"]``) are never secrets.
"""

from __future__ import annotations

import re
import zlib

from pii.engine.passwords import PASSWORD_RULES
from pii.engine.rules import Prefilter, Rule, detection
from pii.engine.types import Detection
from pii.engine.validators import (
    WEAK_DEFAULT_PASSWORDS,
    b64url_decode,
    char_classes,
    has_context,
    is_code_expression,
    is_hex,
    is_low_entropy_filler,
    is_placeholder,
    is_uuid,
    jwt_structure,
    pem_body_ok,
    shannon_entropy,
    words_pattern,
)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# --------------------------------------------------------------------------------------------
# aws_key

_AWS_ID_PREFIX = r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)"
_AWS_ID = re.compile(rf"(?<![A-Za-z0-9/+])(?P<id>{_AWS_ID_PREFIX}[A-Z2-7]{{16}})(?![A-Za-z0-9/+])")
# An access key id followed by its secret (the credentials CSV, "id,secret" pairs, "id:secret").
_AWS_PAIR = re.compile(
    r"(?<![A-Za-z0-9/+])(?:AKIA|ASIA)[A-Z2-7]{16}[ \t,;:|]{1,3}(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# Words that name an AWS secret access key.
_AWS_SK_WORDS = (
    r"(?:aws[_\- ]?secret(?:[_\- ]?access)?(?:[_\- ]?key)?|secret[_\- ]?access[_\- ]?key|aws[_\- ]?secret[_\- ]?key)"
)
_AWS_SECRET = re.compile(
    rf"(?ai:{_AWS_SK_WORDS})[^\n]{{0,40}}?(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])"
)
_AWS_CONTEXT = words_pattern("aws", "amazon", "iam", "access key", "access_key", "accesskeyid", "aws_access_key_id")


def _build_aws_id(text: str, m: re.Match[str]) -> Detection | None:
    key = m.group("id")
    if is_low_entropy_filler(key[4:]):
        return None  # AKIAXXXXXXXXXXXXXXXX
    start, end = m.span("id")
    confidence = 0.8 if key.endswith("EXAMPLE") else 0.9
    if has_context(_AWS_CONTEXT, text, start, end, before=40):
        confidence += 0.05
    return detection("aws_key", start, end, confidence, "aws_key.access_key_id")


def _aws_secret_ok(secret: str) -> bool:
    # 40 characters of base64: random ones mix cases and digits; paths and words do not.
    return char_classes(secret) >= 3 and shannon_entropy(secret) >= 4.0 and not is_low_entropy_filler(secret)


def _build_aws_pair(text: str, m: re.Match[str]) -> Detection | None:
    if not _aws_secret_ok(m.group("secret")):
        return None
    start, end = m.span("secret")
    return detection("aws_key", start, end, 0.85, "aws_key.secret_pair")


def _build_aws_secret(text: str, m: re.Match[str]) -> Detection | None:
    secret = m.group("secret")
    if not _aws_secret_ok(secret) or is_placeholder(secret):
        return None
    start, end = m.span("secret")
    return detection("aws_key", start, end, 0.9, "aws_key.secret_context")


AWS_ID_RULE = Rule(
    name="aws_key.access_key_id",
    types=("aws_key",),
    regex=_AWS_ID,
    build=_build_aws_id,
    prefilters=(Prefilter(rf"{_AWS_ID_PREFIX}[A-Z2-7]{{16}}", before=20, after=0),),
    reach=20,
)
AWS_PAIR_RULE = Rule(
    name="aws_key.secret_pair",
    types=("aws_key",),
    regex=_AWS_PAIR,
    build=_build_aws_pair,
    prefilters=(Prefilter(r"(?:AKIA|ASIA)[A-Z2-7]{16}[ \t,;:|]", before=21, after=43),),
    reach=20 + 3 + 40,
)
AWS_SECRET_RULE = Rule(
    name="aws_key.secret_context",
    types=("aws_key",),
    regex=_AWS_SECRET,
    build=_build_aws_secret,
    prefilters=(Prefilter(r"aws[_\- ]?secret|secret[_\- ]?access", before=14, after=110, caseless=True),),
    reach=30 + 40 + 40,
    anchor=re.compile(r"aws|secret"),
)

# --------------------------------------------------------------------------------------------
# github_token

_GITHUB = re.compile(
    r"(?<![A-Za-z0-9_])(?P<tok>gh[pousr]_(?P<body>[A-Za-z0-9]{36,251})|github_pat_[A-Za-z0-9_]{70,240})(?![A-Za-z0-9_])"
)


def _github_checksum_ok(body: str) -> bool:
    """Classic tokens end in a base62 CRC32 of the 30 random characters before it."""
    if len(body) != 36:
        return False
    crc = zlib.crc32(body[:30].encode()) & 0xFFFFFFFF
    check = ""
    while crc:
        crc, rem = divmod(crc, 62)
        check = _B62[rem] + check
    return check.rjust(6, "0") == body[30:]


def _build_github(text: str, m: re.Match[str]) -> Detection | None:
    token = m.group("tok")
    body = m.group("body") or token[11:]
    if is_low_entropy_filler(body):
        return None
    confidence = 0.99 if m.group("body") and _github_checksum_ok(body) else 0.93
    return detection("github_token", m.start(), m.end(), confidence, "github_token.prefix")


GITHUB_RULE = Rule(
    name="github_token",
    types=("github_token",),
    regex=_GITHUB,
    build=_build_github,
    prefilters=(
        Prefilter(r"gh[pousr]_[A-Za-z0-9]{36}", before=40, after=216),
        Prefilter(r"github_pat_[A-Za-z0-9_]{70}", before=81, after=171),
    ),
    reach=255,
    anchor=re.compile(r"gh[pousr]_|github_pat_"),
)

# --------------------------------------------------------------------------------------------
# api_key: vendor formats

# (group name, regex, prefilter, before, after, confidence): the prefilter is the regex's fixed head.
_VENDORS: tuple[tuple[str, str, str, int, int, float], ...] = (
    ("stripe", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}", r"[sr]k_(?:live|test)_[A-Za-z0-9]{10}", 18, 240, 0.95),
    ("stripe_webhook", r"whsec_[A-Za-z0-9]{24,100}", r"whsec_[A-Za-z0-9]{24}", 30, 80, 0.9),
    ("slack", r"xox[abposr]-[A-Za-z0-9\-]{10,250}", r"xox[abposr]-[A-Za-z0-9\-]{10}", 15, 245, 0.93),
    (
        "slack_webhook",
        r"(?:https?://)?hooks\.slack\.com/services/T[A-Za-z0-9_]{6,12}/B[A-Za-z0-9_]{6,12}/[A-Za-z0-9_]{20,32}",
        r"hooks\.slack\.com/services/T",
        35,
        70,
        0.95,
    ),
    ("google", r"AIza[0-9A-Za-z_\-]{35}", r"AIza[0-9A-Za-z_\-]{35}", 39, 0, 0.93),
    ("anthropic", r"sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_\-]{20,200}", r"sk-ant-[a-z]{2,8}[0-9]{2}-", 18, 200, 0.97),
    ("openai", r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,250}", r"sk-[A-Za-z0-9_\-]{20}", 23, 240, 0.8),
    ("sendgrid", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", r"SG\.[A-Za-z0-9_\-]{22}\.", 26, 43, 0.95),
    ("twilio", r"SK[0-9a-fA-F]{32}", r"SK[0-9a-fA-F]{32}", 34, 0, 0.4),
    (
        "gitlab",
        r"gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_\-]{20,50}",
        r"gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_\-]{20}",
        26,
        30,
        0.93,
    ),
    ("npm", r"npm_[A-Za-z0-9]{36}", r"npm_[A-Za-z0-9]{36}", 40, 0, 0.93),
    ("pypi", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,300}", r"pypi-AgEIcHlwaS5vcmc", 20, 300, 0.97),
    ("huggingface", r"hf_[A-Za-z0-9]{30,40}", r"hf_[A-Za-z0-9]{30}", 33, 10, 0.85),
    ("mailgun", r"key-[0-9a-f]{32}", r"key-[0-9a-f]{32}", 36, 0, 0.8),
    ("shopify", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", 38, 0, 0.93),
    ("digitalocean", r"do[opr]_v1_[a-f0-9]{64}", r"do[opr]_v1_[a-f0-9]{64}", 71, 0, 0.95),
    ("square", r"sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,43}", r"sq0(?:atp|csp)-[0-9A-Za-z_\-]{22}", 29, 21, 0.93),
    ("age", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", 74, 0, 0.97),
    ("azure_storage", r"AccountKey=[A-Za-z0-9+/]{86}==", r"AccountKey=[A-Za-z0-9+/]{86}", 97, 2, 0.95),
)
_VENDOR = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:" + "|".join(f"(?P<{name}>{rx})" for name, rx, *_ in _VENDORS) + r")(?![A-Za-z0-9_\-])"
)
_SEPARATORS = re.compile(r"[_\-.]")
_VENDOR_CONFIDENCE = {name: conf for name, _, _, _, _, conf in _VENDORS}
_KEY_CONTEXT = words_pattern(
    "api",
    "key",
    "apikey",
    "api_key",
    "token",
    "secret",
    "twilio",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "sid",
)


def _build_vendor(text: str, m: re.Match[str]) -> Detection | None:
    name = m.lastgroup or ""
    value = m.group()
    confidence = _VENDOR_CONFIDENCE.get(name, 0.8)
    if is_low_entropy_filler(_SEPARATORS.sub("", value)[-24:]):
        return None  # sk-xxxxxxxx…, sk_live_XXXX…
    start, end = m.span()
    if name == "openai":
        if "T3BlbkFJ" in value:  # the marker OpenAI embeds in its keys
            confidence = 0.97
        elif char_classes(value[3:]) < 3 and not value[3:].isalnum():
            confidence = 0.5  # "sk-some-long-slug-name": kebab-case words, not a key
    if name in ("twilio", "mailgun") and has_context(_KEY_CONTEXT, text, start, end, before=48, after=40):
        confidence = 0.85
    return detection("api_key", start, end, confidence, f"api_key.{name}")


VENDOR_RULE = Rule(
    name="api_key.vendor",
    types=("api_key",),
    regex=_VENDOR,
    build=_build_vendor,
    prefilters=tuple(Prefilter(pf, before=b + 1, after=a + 1) for _, _, pf, b, a, _ in _VENDORS),
    reach=320,
    anchor=re.compile(
        r"[sr]k_|whsec_|xox|https?://hooks|hooks\.|aiza|sk-|sg\.|sk[0-9a-f]|gl(?:pat|dt|rt|ptt|cbt)-|npm_|pypi-|hf_"
        r"|key-|shp|do[opr]_|sq0|age-|accountkey="
    ),
)

# --------------------------------------------------------------------------------------------
# api_key: a high-entropy value named by a key-ish word ("api_key=…", "Authorization: Bearer …")

_API_KEYWORD = (
    r"(?:(?:x[_\-])?api[_\-. ]?(?:key|secret|token)|apikey|apitoken|apisecret"
    r"|(?:access|auth|refresh|bearer|private|personal[_\- ]access|session|id|service|bot|app|client)[_\-. ]?token"
    r"|(?:secret|private|signing|encryption|master|app|client|service|access|account|license|subscription)[_\-. ]?key"
    r"|(?:client|app|consumer|shared|webhook|signing)[_\-. ]?secret|secret|token|authorization|bearer"
    r"|(?<=[?&])key(?==))"  # a URL's query parameter: ?key=X, &key=X
)
_API_KEY_CONTEXT = re.compile(
    rf"(?ai:{_API_KEYWORD})(?P<ksuf>[A-Za-z0-9_]{{0,20}})(?:[\"'\]]|\\\")?"
    r"(?P<sep>[ \t]{0,3}(?::=|=>|->|[:=|])[ \t]{0,3}|[ \t]{0,2}\("
    r"|[ \t]{1,3}(?:is[ \t]{1,3}|to[ \t]{1,3}|of[ \t]{1,3})?"
    # "the API key I rotated; the new value is X", "API key hardcoded in the repo: X"
    r"|[^\n.,\"'=]{1,40}?(?:[ \t](?:is|was)[ \t]{1,3}|:[ \t]{1,3}))"
    r"(?:[\"'`]|\\\")?"
    r"(?:(?P<scheme>(?ai:bearer|token|basic|apikey|key))[ \t]{1,3})?"
    r"(?P<val>[A-Za-z0-9][A-Za-z0-9_\-+/=.~]{15,511})(?![A-Za-z0-9_\-+/=.~])"
)
# Values under names with these words are hashes, ids or counters even when "token" or "key" is in the name.
_HASH_ID_COUNTER_WORDS = """sha sha1 sha256 sha512 hash hashed digest checksum md5 crc crc32 commit etag fingerprint
    integrity signature page cursor continuation next sync count counts limit limits usage type expires expiry
    expiration exp ttl length len id ids index url uri endpoint file path name version prompt completion input output
    total max min budget estimate public pub publishable kid idempotency request trace"""
_NOT_SECRET_WORDS = frozenset(_HASH_ID_COUNTER_WORDS.split())
# Words of an identifier: snake/kebab/dotted parts ("md5") and camelCase humps ("nextPageToken").
_WORD_SPLIT = re.compile(r"[A-Za-z0-9]+|[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CAMEL = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_WEAK_API_WORDS = frozenset({"token", "secret", "id_token", "session_token", "sessiontoken"})
_IMAGE_B64 = ("iVBOR", "/9j/", "R0lGOD", "UklGR", "PHN2Zy", "AAAA")


def _full_key(text: str, start: int, keyword_end: int, suffix: str) -> str:
    """The whole identifier the keyword is part of: ``STRIPE_SECRET_KEY``, ``next_page_token``."""
    i = start
    limit = max(0, start - 40)
    while i > limit and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    return text[i:keyword_end] + suffix


def _mixed_case(value: str) -> bool:
    """32+ letters with upper and lower case about evenly mixed: random; camelCase names are mostly lower."""
    if len(value) < 32 or not value.isalpha():
        return False
    upper = sum(ch.isupper() for ch in value) / len(value)
    return 0.3 <= upper <= 0.7 and shannon_entropy(value) >= 4.5


def api_value_confidence(value: str, weak: bool) -> float | None:
    """How likely ``value``, named by an api-key word, is a key (``weak``: named only "token"/"secret"), or None."""
    if len(value) < 16 or is_placeholder(value) or is_code_expression(value) or is_low_entropy_filler(value):
        return None
    if not any(ch.isalpha() for ch in value):
        return None  # digits and separators: an id, a card or a phone number, not a key
    if value.startswith(_IMAGE_B64) or value.startswith(("http", "www.")):
        return None
    if is_uuid(value):
        return 0.3 if weak else 0.45  # some services do use UUID keys, most UUIDs are ids
    if is_hex(value):
        return 0.4 if weak else 0.7  # hex keys are common; hex hashes under a key name are rarer
    entropy = shannon_entropy(value)
    classes = char_classes(value)
    has_digit = any(ch.isdigit() for ch in value)
    if entropy < 3.0 or classes < 2 or (not has_digit and (len(value) < 32 or classes < 3) and not _mixed_case(value)):
        return None  # words, slugs and identifiers, not random keys
    confidence = 0.6 if weak else 0.8
    if entropy >= 4.0 and classes >= 3:
        confidence += 0.05
    return confidence


def api_key_name_ok(name: str, keyword: str = "") -> bool:
    """False for key names that hold hashes, ids, counters or URLs although they contain "token" or "key"."""
    if keyword:
        at = name.lower().find(keyword)
        if at >= 0:
            name = f"{name[:at]} {name[at + len(keyword) :]}"
    words = {w.lower() for part in _WORD_SPLIT.findall(name) for w in (part, *_CAMEL.findall(part))}
    return not words & _NOT_SECRET_WORDS


def _build_api_key_context(text: str, m: re.Match[str]) -> Detection | None:
    value = m.group("val")
    start, end = m.span("val")
    if value.endswith("."):
        value = value.rstrip(".")  # the full stop ending a sentence
        end = start + len(value)
    scheme = (m.group("scheme") or "").lower()
    keyword_end = m.start("ksuf")
    keyword = text[m.start() : keyword_end].lower()
    suffix = m.group("ksuf").lower()
    if suffix == "s" and keyword in ("token", "secret"):
        return None  # "tokens": a count
    if not api_key_name_ok(_full_key(text, m.start(), keyword_end, m.group("ksuf")), keyword):
        return None
    if scheme == "basic":
        decoded = b64url_decode(value.replace("+", "-").replace("/", "_").rstrip("="))
        if decoded and b":" in decoded and len(value) >= 8:
            return detection("password", start, end, 0.85, "password.basic_auth")
        return None
    weak = keyword.replace("-", "_").replace(" ", "_") in _WEAK_API_WORDS and not scheme
    confidence = api_value_confidence(value, weak)
    if confidence is None:
        return None
    if scheme in ("bearer", "token") or keyword in ("bearer", "authorization"):
        confidence = max(confidence, 0.8)
    elif len(m.group("sep")) > 8:
        confidence -= 0.1  # named a few words earlier, not directly
    return detection("api_key", start, end, confidence, "api_key.context")


# "Use `X` as my API key", "Can you verify X? That's our API key": the value first, the name after it.
_BACKWARD_NAMES = (
    r"aws[ _\-]?secret(?:[ _\-]?access)?[ _\-]?key|api[ _\-]?(?:key|token|secret)|access[ _\-]?token"
    r"|secret[ _\-]?key|auth[ _\-]?token"
)
_API_KEY_BACKWARD = re.compile(
    r"(?<![A-Za-z0-9_\-+/=.~])(?P<val>[A-Za-z0-9][A-Za-z0-9_\-+/=.~]{15,255})[`'\"]?"
    r"(?:[ \t]{1,3}(?ai:as|is)|[?.!]?[ \t]{1,3}(?ai:that's|that is|this is|it's|it is))[ \t]{1,3}"
    r"(?:(?ai:the|my|our|your|a|an|their)[ \t]{1,3})?(?:[A-Za-z]{1,15}[ \t]{1,3}){0,2}"
    rf"(?P<name>(?ai:{_BACKWARD_NAMES}))"
)


def _build_api_key_backward(text: str, m: re.Match[str]) -> Detection | None:
    value = m.group("val").rstrip(".")
    start = m.start("val")
    end = start + len(value)
    named = text[max(m.start(), m.start("name") - 4) : m.end("name")].lower()
    if "aws" in named and "secret" in named:
        if len(value) != 40 or not _aws_secret_ok(value) or is_placeholder(value):
            return None
        return detection("aws_key", start, end, 0.85, "aws_key.secret_context")
    confidence = api_value_confidence(value, weak=False)
    if confidence is None:
        return None
    return detection("api_key", start, end, confidence - 0.05, "api_key.context")


API_KEY_BACKWARD_RULE = Rule(
    name="api_key.backward",
    types=("api_key", "aws_key"),
    regex=_API_KEY_BACKWARD,
    build=_build_api_key_backward,
    prefilters=(Prefilter(_BACKWARD_NAMES, 256 + 100, 1, caseless=True),),
    reach=256 + 100,
)

# "Paste X into the integration settings": a random value put where configuration keeps secrets.
_PASTE_PLACES = r"settings|config|configuration|env|environment|vault|secrets?|header|dashboard|console|keychain"
_API_KEY_PASTED = re.compile(
    r"(?<![A-Za-z])(?ai:paste|enter|put|store|save)[ \t]{1,3}[`'\"]?"
    r"(?P<val>[A-Za-z0-9][A-Za-z0-9_\-+/=.~]{23,255})(?![A-Za-z0-9_\-+/=.~])[`'\"]?[ \t]{1,3}(?ai:into|in)[ \t]{1,3}"
    r"(?:(?ai:the|my|our|your|their)[ \t]{1,3})?(?:[A-Za-z\-]{1,15}[ \t]{1,3}){0,2}"
    rf"(?ai:{_PASTE_PLACES})\b"
)


def _build_api_key_pasted(text: str, m: re.Match[str]) -> Detection | None:
    value = m.group("val")
    # Nothing names it a key, so only what looks random counts: long hex, or digits and both cases.
    if is_uuid(value) or value.startswith(_IMAGE_B64):
        return None
    if is_hex(value):
        confidence: float | None = 0.6 if len(value) >= 32 else None
    elif char_classes(value) < 3 or not any(ch.isdigit() for ch in value) or shannon_entropy(value) < 3.5:
        return None
    else:
        confidence = api_value_confidence(value, weak=True)
    if confidence is None:
        return None
    start, end = m.span("val")
    return detection("api_key", start, end, confidence, "api_key.pasted")


# verb, quote, value, quote, "into", "the", two words, the place: how far before the place a match starts
_PASTE_REACH = 5 + 3 + 1 + 256 + 1 + 3 + 4 + 3 + 6 + 3 + 2 * 18
API_KEY_PASTED_RULE = Rule(
    name="api_key.pasted",
    types=("api_key",),
    regex=_API_KEY_PASTED,
    build=_build_api_key_pasted,
    prefilters=(Prefilter(rf"(?:{_PASTE_PLACES})", _PASTE_REACH + 14, 2, caseless=True),),
    reach=_PASTE_REACH + 14 + 2,
    anchor=re.compile(r"paste|enter|put|store|save"),
)


API_KEY_CONTEXT_RULE = Rule(
    name="api_key.context",
    types=("api_key", "password"),
    regex=_API_KEY_CONTEXT,
    build=_build_api_key_context,
    prefilters=(
        Prefilter(
            r"api[_\-. ]?(?:key|secret|token)|apikey|apitoken|apisecret|token|secret|authorization|bearer"
            r"|(?:private|signing|encryption|master|app|client|service|access|account|license|subscription)[_\-. ]?key"
            r"|[?&]key=",
            before=26,
            after=10 + 20 + 2 + 46 + 2 + 10 + 512 + 2,
            caseless=True,
        ),
    ),
    reach=26 + 10 + 20 + 2 + 46 + 2 + 10 + 512,
    anchor=re.compile(
        r"x[_\-]a|api|acc|aut|ref|bea|pri|per|ses|id|ser|bot|app|cli|sec|sig|enc|mas|lic|sub|con|sha|web|tok|key="
    ),
)

# --------------------------------------------------------------------------------------------
# jwt

_JWT = re.compile(
    r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,8192}\.eyJ[A-Za-z0-9_\-]{5,32768}\.[A-Za-z0-9_\-]{0,8192}(?![A-Za-z0-9_\-])"
)


def _build_jwt(text: str, m: re.Match[str]) -> Detection | None:
    score = jwt_structure(m.group())
    if score < 0.25:
        return None
    return detection("jwt", m.start(), m.end(), score, "jwt.structure")


JWT_RULE = Rule(
    name="jwt",
    types=("jwt",),
    regex=_JWT,
    build=_build_jwt,
    prefilters=(Prefilter(r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ", before=1, after=32768 + 8192 + 2, som=True),),
    reach=8192 + 32768 + 8192 + 8,
    anchor=re.compile(r"eyj"),
)

# --------------------------------------------------------------------------------------------
# private_key

_PEM_LABEL = r"(?P<label>(?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?)"
# The body may not contain "-----", so it ends at the first armour line; possessive, so no backtracking.
_PEM = re.compile(rf"-----BEGIN {_PEM_LABEL}-----(?P<body>(?:[^\-]|-(?!----)){{0,65536}}+)-----END (?P=label)-----")
_PEM_TRUNCATED = re.compile(
    rf"-----BEGIN {_PEM_LABEL}-----(?P<body>(?:[A-Za-z0-9+/=:,. \t\r\n]|\\[nr]|-(?!----)){{64,65536}}+)"
)


def _build_pem(text: str, m: re.Match[str]) -> Detection | None:
    if not pem_body_ok(m.group("body")):
        return None  # "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----" in docs
    kind = "pgp" if m.group("label").startswith("PGP") else "pem"
    return detection("private_key", m.start(), m.end(), 0.99, f"private_key.{kind}")


def _build_pem_truncated(text: str, m: re.Match[str]) -> Detection | None:
    body = m.group("body")
    if text.startswith("-----END", m.end()) or not pem_body_ok(body):
        return None  # complete blocks are the other rule's
    end = m.start("body") + len(body.rstrip(" \t\r\n"))
    return detection("private_key", m.start(), end, 0.8, "private_key.truncated")


_PEM_PREFILTER = Prefilter(r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY", before=1, after=65536 + 200, som=True)
PEM_RULE = Rule(
    name="private_key",
    types=("private_key",),
    regex=_PEM,
    build=_build_pem,
    prefilters=(_PEM_PREFILTER,),
    reach=65536 + 260,
    anchor=re.compile(r"-----begin "),
)
PEM_TRUNCATED_RULE = Rule(
    name="private_key.truncated",
    types=("private_key",),
    regex=_PEM_TRUNCATED,
    build=_build_pem_truncated,
    prefilters=(_PEM_PREFILTER,),
    reach=65536 + 260,
    anchor=re.compile(r"-----begin "),
)

# --------------------------------------------------------------------------------------------
# database_url

_DB_SCHEMES = (
    r"postgres(?:ql)?|mysql|mariadb|mongodb|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb|clickhouse|db2"
    r"|couchdb|neo4j|cassandra|snowflake|timescaledb|postgis"
)
_DB_URL = re.compile(
    rf"(?<![\w+.\-])(?:jdbc:)?(?ai:{_DB_SCHEMES})(?:\+[A-Za-z0-9]{{1,20}})?://"
    # Commas may separate hosts (mongodb://u:p@h1,h2/db) but end the URL once the path began (CSV, lists).
    r"(?P<rest>[^\s\"'<>`/]{1,512}(?:/[^\s\"'<>`,]{0,1536})?)"
)
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}(?:[,/?#]|$)")
_QUERY_PASSWORD = re.compile(r"[?&;](?:password|pwd|pass|passwd)=(?P<pw>[^&;#]+)", re.IGNORECASE)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "example.com", "example.org", "host", "hostname", "db.example")


def _build_db_url(text: str, m: re.Match[str]) -> Detection | None:
    rest = m.group("rest")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    # A comma in the authority separates hosts only if a host:port follows; otherwise the URL ended (CSV).
    for cm in re.finditer(",", authority):
        if not _HOST_PORT.match(authority, cm.end()):
            rest = authority = authority[: cm.start()]
            break
    # Trailing punctuation and escaped quotes belong to the surrounding sentence or string.
    rest = rest.rstrip(".,;:)]}!?\\")
    end = m.start("rest") + len(rest)
    authority = authority[: len(rest)]
    password = ""
    host = authority
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        password = userinfo.partition(":")[2] if ":" in userinfo else ""
    if not password:
        qm = _QUERY_PASSWORD.search(rest)
        password = qm.group("pw") if qm else ""
    if not password:
        return None  # no credentials: a server address, not a secret
    if is_placeholder(password) or password.startswith(("$", "%24")):
        return None
    confidence = 0.95
    if password.lower() in WEAK_DEFAULT_PASSWORDS or password.lower() in ("pass", "password", "secret"):
        confidence = 0.7
    if host.split(":")[0].lower() in _LOCAL_HOSTS:
        confidence -= 0.1
    return detection("database_url", m.start(), end, confidence, "database_url.credentials")


DB_URL_RULE = Rule(
    name="database_url",
    types=("database_url",),
    regex=_DB_URL,
    build=_build_db_url,
    prefilters=(
        Prefilter(
            rf"(?:{_DB_SCHEMES})[A-Za-z0-9+]{{0,21}}://",
            before=6,
            after=2049,
            som=True,
            caseless=True,
        ),
    ),
    reach=5 + 40 + 3 + 2049,
    anchor=re.compile(rf"jdbc:|{_DB_SCHEMES}"),
)

CREDENTIAL_RULES: tuple[Rule, ...] = (
    AWS_ID_RULE,
    AWS_PAIR_RULE,
    AWS_SECRET_RULE,
    GITHUB_RULE,
    VENDOR_RULE,
    API_KEY_CONTEXT_RULE,
    API_KEY_BACKWARD_RULE,
    API_KEY_PASTED_RULE,
    JWT_RULE,
    PEM_RULE,
    PEM_TRUNCATED_RULE,
    DB_URL_RULE,
    *PASSWORD_RULES,
)
