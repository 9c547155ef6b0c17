"""Labelled evaluation corpus for the PII engine: templates + Faker, fixed seeds, all 14 types.

    from bench.pii_corpus import generate, load_presidio_research, mixed_traffic
    samples = generate(3000, split="test")      # report figures on "test", tune on "dev"
    text = mixed_traffic(20_000_000)            # ~2 % PII bytes, for the speed benchmark

Design. A sample is a *scene* (a container that agent traffic really has: a JSON tool call, an
API response, YAML/.env/TOML config, log lines, CSV, SQL, Python settings, a curl command, a
markdown table, a chat, an e-mail, a code-review comment, a ticket, a stack trace, a Slack
thread, a git log, an incident report) filled with *items*: PII values of the 14 types and
decoys (hard negatives: UUIDs, hashes, versions, dates, non-Luhn order numbers, invalid SSNs,
public keys and certificates, credential-less URLs, data URIs, placeholders, capitalised
words, epoch timestamps, code that reads secrets from the environment). Key-value scenes name
an item by a natural key (``STRIPE_SECRET_KEY``, ``"ssn"``); prose scenes say it with a
sentence template. Values are generated here: Faker in ten locales for names, addresses and
e-mails; checksummed card numbers, valid SSNs, per-country phone formats; realistic secrets
(AWS ``AKIA…`` ids and 40-character secrets, GitHub tokens with their CRC32 checksum, Stripe,
Slack, Google, OpenAI, Anthropic, SendGrid, … keys, JWTs with real JSON header and payload,
PEM private keys built deterministically from the seed, database URLs with credentials).

Splits. ``dev`` and ``test`` use disjoint scenes, key names, labels and sentence templates
(every list of templates is dealt alternately to the two splits) and different seeds; value
formats are shared, since a detector must know every format anyway.

Spans. Offsets are Python ``str`` offsets into ``text``, of the value as written (escaped
inside JSON strings, indented inside a YAML block): password → the secret only, database_url →
the whole URL, private_key → BEGIN to END line, person_name → first [middle] last without
title, street_address → street, unit and city/state/postcode when present.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import re
import string
import struct
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from pii.engine.types import TYPES  # the canonical type names: labels use exactly these

DEFAULT_SEED = 20_240_611
SPLITS: tuple[str, ...] = ("dev", "test")
LOCALES: tuple[str, ...] = (
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "hu_HU",
    "fi_FI",
    "pl_PL",
)
# presidio-research sits beside the repository in the shared data folder.
PRESIDIO_RESEARCH_PATH = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "presidio-research" / "synth_dataset_v2.json"
)
PRESIDIO_RESEARCH_TYPES: dict[str, str] = {
    "PERSON": "person_name",
    "STREET_ADDRESS": "street_address",
    "CREDIT_CARD": "credit_card",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address",
}

Span = tuple[str, int, int]


@dataclass(slots=True)
class Sample:
    """One labelled text. ``ignored`` spans (other corpora's entity types we do not score) count neither way."""

    id: str
    text: str
    spans: list[Span]
    ignored: list[tuple[int, int]] = field(default_factory=list)
    source: str = ""  # the scene that made it, to group misses


@dataclass(slots=True)
class _Val:
    """A value to place: ``typ`` None marks a decoy, which is scored as a negative."""

    typ: str | None
    text: str
    keys: tuple[str, ...]
    label: str
    oneline: str = ""  # single-line form for multi-line values (addresses)
    extra: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Small helpers


_SENTINEL = re.compile(r"@@PII(\d+)@@")
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"
_HEX = "0123456789abcdef"
_B32 = string.ascii_uppercase + "234567"
_PW_SPECIAL = "!#%*+-.:=?@^_~"  # no quotes, backslashes, spaces, commas, ampersands, dollars
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def _ascii(text: str) -> str:
    """Transliterate for e-mail local parts and domains (Zoltán → zoltan)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return len(digits) >= 12 and _luhn_digit("".join(digits[:-1])) == digits[-1]


def ssn_ok(ssn: str) -> bool:
    """SSA rules: area 001 to 899 except 666, group 01 to 99, serial 0001 to 9999."""
    digits = "".join(c for c in ssn if c.isdigit())
    if len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return 0 < area < 900 and area != 666 and group > 0 and serial > 0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _escape(text: str, esc: str) -> str:
    if esc == "json":
        return json.dumps(text, ensure_ascii=False)[1:-1]
    if esc == "json2":  # inside a JSON string that is itself inside a JSON string
        return json.dumps(json.dumps(text, ensure_ascii=False)[1:-1], ensure_ascii=False)[1:-1]
    if esc == "nl":  # a multi-line value inside a one-line string ("...\n...")
        return text.replace("\n", "\\n")
    if esc == "sql":
        return text.replace("'", "''").replace("\n", "\\n")
    if esc == "csv":
        return text.replace('"', '""').replace("\n", "\\n")
    if esc.startswith("indent:"):  # YAML block scalar
        return text.replace("\n", "\n" + " " * int(esc[7:]))
    return text


class _Doc:
    """Collects values behind sentinels, so any rendering (json.dumps, f-strings) keeps exact offsets."""

    def __init__(self) -> None:
        self._vals: list[tuple[str | None, str]] = []

    def put(self, val: _Val, esc: str = "raw", *, oneline: bool = False) -> str:
        text = val.oneline if oneline and val.oneline else val.text
        self._vals.append((val.typ, _escape(text, esc)))
        return f"@@PII{len(self._vals) - 1}@@"

    def finish(self, template: str) -> tuple[str, list[Span]]:
        out: list[str] = []
        spans: list[Span] = []
        pos = length = 0
        for m in _SENTINEL.finditer(template):
            chunk = template[pos : m.start()]
            out.append(chunk)
            length += len(chunk)
            typ, text = self._vals[int(m.group(1))]
            if typ:
                spans.append((typ, length, length + len(text)))
            out.append(text)
            length += len(text)
            pos = m.end()
        out.append(template[pos:])
        return "".join(out), spans


def _miller_rabin(n: int, rng: random.Random, rounds: int = 24) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (c - 1) % 65537 and all(c % p for p in _SMALL_PRIMES) and _miller_rabin(c, rng):
            return c


@functools.lru_cache(maxsize=64)
def _rsa_pems(seed: int, bits: int) -> tuple[str, str, str, str]:
    """A deterministic RSA key (cryptography cannot seed its own key generation): PKCS#1, PKCS#8, public PEMs."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random(f"rsa:{seed}:{bits}")
    e = 65537
    while True:
        p, q = _prime(rng, bits // 2), _prime(rng, bits // 2)
        if p != q:
            break
    p, q = max(p, q), min(p, q)
    d = pow(e, -1, (p - 1) * (q - 1))
    key = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    ).private_key()
    none = ser.NoEncryption()
    pkcs1 = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none).decode().strip()
    pkcs8 = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, none).decode().strip()
    pub = key.public_key()
    spki = pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode().strip()
    pkcs1_pub = pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.PKCS1).decode().strip()
    return pkcs1, pkcs8, spki, pkcs1_pub


def _ec_pems(secret: int) -> tuple[str, str, str]:
    """A P-256 key derived from an integer (deterministic): SEC1, PKCS#8, public PEMs."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(secret, ec.SECP256R1())
    none = ser.NoEncryption()
    sec1 = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none).decode().strip()
    pkcs8 = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, none).decode().strip()
    spki = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode().strip()
    return sec1, pkcs8, spki


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _openssh_ed25519(seed32: bytes, comment: str, checkint: int) -> tuple[str, str]:
    """OpenSSH private key (unencrypted) built by hand: cryptography's writer draws a random check int."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(seed32)
    pub = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    pubblob = _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
    priv = struct.pack(">II", checkint, checkint) + pubblob + _ssh_string(seed32 + pub) + _ssh_string(comment.encode())
    pad = 1
    while len(priv) % 8:
        priv += bytes([pad])
        pad += 1
    blob = (
        b"openssh-key-v1\0"
        + _ssh_string(b"none")
        + _ssh_string(b"none")
        + _ssh_string(b"")
        + struct.pack(">I", 1)
        + _ssh_string(pubblob)
        + _ssh_string(priv)
    )
    b64 = base64.b64encode(blob).decode()
    body = "\n".join(b64[i : i + 70] for i in range(0, len(b64), 70))
    pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----"
    return pem, f"ssh-ed25519 {base64.b64encode(pubblob).decode()} {comment}"


@functools.lru_cache(maxsize=64)
def _certificate(seed: int, host: str) -> str:
    """A self-signed certificate (Ed25519 signatures are deterministic): a PEM that is not a secret."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    rng = random.Random(f"cert:{seed}")
    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(300))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(rng.getrandbits(64) | 1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, None)
    )
    return cert.public_bytes(ser.Encoding.PEM).decode().strip()


# --------------------------------------------------------------------------------------------
# Vocabulary. Lists of templates are dealt alternately to dev and test (see _Gen.pick).

_COMPANIES = (
    "Acme Corp",
    "Initech",
    "Globex",
    "Northwind Traders",
    "Contoso",
    "Umbrella Logistics",
    "Stark Freight",
    "Hooli",
    "Vandelay Industries",
    "Wonka Foods",
    "Tyrell Systems",
    "Cyberdyne Labs",
)
_PRODUCTS = (
    "Visual Studio Code",
    "Google Chrome",
    "Apple Pay",
    "Microsoft Teams",
    "Amazon Web Services",
    "Google Cloud Storage",
    "Kubernetes",
    "PostgreSQL",
    "Jira Service Management",
    "GitHub Actions",
    "Slack Connect",
    "Red Hat Enterprise Linux",
    "Windows Server",
    "Azure Active Directory",
)
_CITIES = (
    "Paris",
    "Berlin",
    "London",
    "Madrid",
    "Rome",
    "Amsterdam",
    "Budapest",
    "Helsinki",
    "Warsaw",
    "Chicago",
    "Austin",
    "Denver",
    "Lyon",
    "Munich",
    "Seattle",
    "Boston",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SERVICES = ("billing", "auth", "orders", "search", "notifier", "ingest", "gateway", "payments", "reports", "sync")
_TOOLS = (
    "create_customer",
    "update_contact",
    "send_email",
    "lookup_account",
    "store_secret",
    "run_query",
    "deploy_service",
    "open_ticket",
    "write_file",
    "http_request",
    "crm.upsert",
    "kyc.verify",
)
_FREE_MAIL = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.co.uk",
    "proton.me",
    "gmx.de",
    "web.de",
    "orange.fr",
    "libero.it",
    "ziggo.nl",
    "wp.pl",
    "freemail.hu",
    "icloud.com",
    "fastmail.fm",
)
# Area codes in service, so numbers pass libphonenumber's validity check like real ones do.
_US_AREA_CODES = (
    201, 202, 206, 212, 213, 214, 215, 216, 217, 301, 303, 305, 310, 312, 313, 314, 315, 402, 404, 405, 407, 408,
    410, 412, 415, 502, 503, 504, 505, 512, 513, 602, 603, 614, 615, 617, 619, 646, 702, 703, 704, 713, 714, 718,
    720, 773, 801, 804, 808, 813, 817, 818, 832, 847, 858, 907, 910, 913, 916, 917, 919, 925, 949, 954, 971, 972,
)  # fmt: skip
_HOST_WORDS = ("db", "pg", "mysql", "mongo", "cache", "redis", "primary", "replica", "analytics", "core")
_FILLER_SENTENCES = (
    "Let me check the logs first.",
    "I'll open a pull request once the tests pass.",
    "The nightly job finished without errors.",
    "Can you take a look when you have a minute?",
    "This should be fixed in the next release.",
    "I re-ran the pipeline and it is green now.",
    "Thanks for the quick turnaround!",
    "We need this before the quarterly review.",
    "Rolling back to the previous build for now.",
    "The dashboard shows a spike around noon.",
    "I'll summarise the findings in the incident doc.",
    "No customer impact so far.",
    "Please keep this thread for follow-ups.",
    "Retrying with exponential backoff.",
    "Cache hit ratio dropped to 71% after the deploy.",
    "Marking this as resolved; reopen if it happens again.",
    "The agent finished the task in 14 steps.",
    "Tool call succeeded; parsing the response.",
    "I couldn't find anything relevant in the wiki.",
    "Let's pair on this tomorrow morning.",
)


# --------------------------------------------------------------------------------------------
# The generator


class _Gen:
    def __init__(self, seed: int, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        self.seed = seed
        self.split = split
        self.part = SPLITS.index(split)
        self.rng = random.Random(f"accord-pii:{seed}:{split}")
        self.fakers: dict[str, Faker] = {}
        for loc in LOCALES:
            fk = Faker(loc)
            fk.seed_instance(self.rng.getrandbits(32))
            self.fakers[loc] = fk
        self.en = self.fakers["en_US"]

    # Choice helpers ---------------------------------------------------------------------

    def pick(self, seq: Sequence[Any]) -> Any:
        """A split-specific choice: item i of a template list belongs to split i % 2."""
        sub = seq[self.part :: 2] if len(seq) >= 2 else seq
        return self.rng.choice(sub)

    def any(self, seq: Sequence[Any]) -> Any:
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def locale(self) -> str:
        return self.any(LOCALES)

    def date(self) -> str:
        d = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(seconds=self.rng.randrange(3 * 365 * 86400))
        return self.any(
            (
                d.strftime("%Y-%m-%d"),
                d.strftime("%Y-%m-%dT%H:%M:%SZ"),
                d.strftime("%d/%m/%Y"),
                d.strftime("%b %d, %Y"),
                d.strftime("%Y-%m-%d %H:%M:%S"),
            )
        )

    def timestamp(self) -> str:
        d = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.rng.randrange(700 * 86400 * 1000))
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"

    def uuid(self) -> str:
        h = self.chars(_HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self.any('89ab')}{h[17:20]}-{h[20:]}"

    def hostname(self) -> str:
        return self.any(
            (
                f"{self.any(_HOST_WORDS)}-{self.rng.randint(1, 9)}.internal",
                f"{self.any(_SERVICES)}.svc.cluster.local",
                f"{self.any(_HOST_WORDS)}.{_ascii(self.any(_COMPANIES))}.io",
                f"ip-10-0-{self.rng.randint(0, 255)}-{self.rng.randint(1, 254)}.ec2.internal",
            )
        )

    # Values of the 14 types -----------------------------------------------------------------

    def _name_parts(self, loc: str) -> tuple[str, str]:
        fk = self.fakers[loc]
        first = fk.first_name()
        last = fk.last_name()
        if ", " in last:  # nl_NL lists "Bourgondië, van": written "van Bourgondië"
            base, prefix = last.split(", ", 1)
            last = f"{prefix} {base}"
        return first, last

    def person_name(self) -> _Val:
        loc = self.locale()
        first, last = self._name_parts(loc)
        if self.chance(0.15):
            middle = self.any((self.fakers[loc].first_name(), f"{self.fakers[loc].first_name()[0]}."))
            first = f"{first} {middle}"
        name = f"{last} {first}" if loc == "hu_HU" else f"{first} {last}"
        return _Val(
            "person_name",
            name,
            (
                "name",
                "full_name",
                "customer_name",
                "contact",
                "author",
                "assignee",
                "owner",
                "account_holder",
                "patient_name",
                "cardholder",
                "requested_by",
                "emergency_contact",
            ),
            self.pick(("the customer", "the account holder", "the contact person", "the patient", "the applicant")),
        )

    def email(self) -> _Val:
        loc = self.locale()
        first, last = (_ascii(p) or "user" for p in self._name_parts(loc))
        local = self.any(
            (
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}_{last}",
                f"{first}{self.rng.randint(1, 99)}",
                f"{first}.{last}+{self.any(('billing', 'news', 'test', 'jira'))}",
                f"{last}.{first[0]}",
                f"{first}-{last}",
                f"{first}.{last}{self.rng.randint(70, 99)}",
            )
        )
        domain = self.any(
            (
                self.any(_FREE_MAIL),
                _ascii(self.fakers[loc].domain_word()) + self.any((".com", ".io", ".co.uk", ".de", ".fr", ".eu")),
                f"{self.any(('mail', 'corp', 'eu', 'us'))}.{_ascii(self.any(_COMPANIES))}.com",
            )
        )
        if self.chance(0.04):
            local = local.upper() if self.chance(0.5) else local.capitalize()
        return _Val(
            "email",
            f"{local}@{domain}",
            (
                "email",
                "contact_email",
                "user_email",
                "emailAddress",
                "reply_to",
                "billing_email",
                "owner_email",
                "recipient",
                "notify",
                "login",
                "mail",
                "customer.email",
            ),
            self.pick(("my email", "the customer's email address", "their e-mail", "the contact address")),
        )

    def ssn(self) -> _Val:
        while True:
            area = self.rng.randint(1, 899)
            if area != 666:
                break
        group, serial = self.rng.randint(1, 99), self.rng.randint(1, 9999)
        r = self.rng.random()
        if r < 0.85:
            text = f"{area:03d}-{group:02d}-{serial:04d}"
        elif r < 0.95:
            text = f"{area:03d} {group:02d} {serial:04d}"
        else:
            text = f"{area:03d}{group:02d}{serial:04d}"
        return _Val(
            "ssn",
            text,
            (
                "ssn",
                "SSN",
                "social_security_number",
                "applicant_ssn",
                "employee.ssn",
                "ssn_full",
                "us_ssn",
                "socialSecurityNo",
            ),
            self.pick(("my SSN", "the social security number", "the applicant's SSN", "their social security no.")),
        )

    def credit_card(self) -> _Val:
        brand, prefix, length = self.any(
            (
                ("Visa", "4", 16),
                ("Visa", "4", 16),
                ("Mastercard", str(self.rng.randint(51, 55)), 16),
                ("Mastercard", str(self.rng.randint(2221, 2720)), 16),
                ("Amex", self.any(("34", "37")), 15),
                ("Discover", "6011", 16),
                ("JCB", str(self.rng.randint(3528, 3589)), 16),
                ("Diners Club", "36", 14),
            )
        )
        partial = prefix + "".join(self.rng.choices(string.digits, k=length - len(prefix) - 1))
        number = partial + _luhn_digit(partial)
        sep = self.any(("", " ", " ", "-"))
        if length in (14, 15):  # Amex and Diners print 4-6-5 / 4-6-4
            groups = [number[:4], number[4:10], number[10:]]
        else:
            groups = [number[i : i + 4] for i in range(0, 16, 4)]
        return _Val(
            "credit_card",
            sep.join(groups),
            ("card_number", "cc_number", "pan", "credit_card", "cardNumber", "payment.card", "cc", "card"),
            self.pick(("my card number", "the credit card", "the card on file", "the customer's card")),
            extra={
                "brand": brand,
                "exp": f"{self.rng.randint(1, 12):02d}/{self.rng.randint(25, 31)}",
                "cvv": f"{self.rng.randint(100, 999)}",
            },
        )

    def phone(self) -> _Val:
        r = self.rng
        d = lambda n: "".join(r.choices(string.digits, k=n))  # noqa: E731 - local shorthand
        region = self.any(("US", "US", "US", "US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "FI", "HU"))
        if region == "US":
            area = str(self.any(_US_AREA_CODES))
            while True:
                exch = f"{r.randint(2, 9)}{d(2)}"
                if exch[1:] != "11" and exch != "555":
                    break
            line = d(4)
            text = self.any(
                (
                    f"({area}) {exch}-{line}",
                    f"{area}-{exch}-{line}",
                    f"{area}.{exch}.{line}",
                    f"+1 {area} {exch} {line}",
                    f"+1-{area}-{exch}-{line}",
                    f"+1 ({area}) {exch}-{line}",
                    f"1-{area}-{exch}-{line}",
                    f"+1{area}{exch}{line}",
                )
            )
        elif region == "GB":
            text = self.any(
                (
                    f"+44 20 {self.any('378')}{d(3)} {d(4)}",
                    f"+44 7{self.any('4578')}{d(2)} {d(6)}",
                    f"020 {self.any('378')}{d(3)} {d(4)}",
                    f"07{self.any('4578')}{d(2)} {d(6)}",
                )
            )
        elif region == "DE":
            text = self.any(
                (
                    f"+49 30 {r.randint(2, 9)}{d(7)}",
                    f"+49 15{r.randint(1, 2)} {d(8)}",
                    f"030 {r.randint(2, 9)}{d(7)}",
                    f"+49 89 {r.randint(2, 9)}{d(6)}",
                    f"0176 {d(8)}",
                )
            )
        elif region == "FR":
            text = self.any(
                (
                    f"+33 6 {r.randint(10, 89)} {d(2)} {d(2)} {d(2)}",
                    f"06 {r.randint(10, 89)} {d(2)} {d(2)} {d(2)}",
                    f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
                    f"+33 (0)7 {r.randint(50, 89)} {d(2)} {d(2)} {d(2)}",
                )
            )
        elif region == "ES":
            text = self.any((f"+34 6{d(2)} {d(3)} {d(3)}", f"+34 91{d(1)} {d(3)} {d(3)}", f"6{d(2)} {d(3)} {d(3)}"))
        elif region == "IT":
            text = self.any((f"+39 06 {d(4)} {d(4)}", f"+39 3{r.randint(2, 9)}{d(1)} {d(3)} {d(4)}"))
        elif region == "NL":
            text = self.any(
                (
                    f"+31 6 {r.randint(1, 5)}{d(7)}",
                    f"+31 20 {r.randint(2, 9)}{d(2)} {d(4)}",
                    f"06-{r.randint(1, 5)}{d(7)}",
                )
            )
        elif region == "PL":
            text = f"+48 {self.any(('50', '51', '53', '60', '66', '69', '79', '88'))}{d(1)} {d(3)} {d(3)}"
        elif region == "FI":
            text = f"+358 4{r.randint(0, 5)} {d(3)} {d(4)}"
        else:
            text = f"+36 {self.any(('20', '30', '70'))} {r.randint(2, 9)}{d(2)} {d(4)}"
        return _Val(
            "phone",
            text,
            ("phone", "phone_number", "mobile", "tel", "contact_phone", "phoneNumber", "cell", "callback_number"),
            self.pick(("my phone number", "the callback number", "their mobile", "the contact number")),
        )

    def ip_address(self) -> _Val:
        r = self.rng
        kind = r.random()
        if kind < 0.55:  # public-looking IPv4
            while True:
                a = r.randint(1, 223)
                if a not in (10, 127, 172, 192, 169, 100, 0):
                    break
            text = f"{a}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        elif kind < 0.82:  # private ranges
            text = self.any(
                (
                    f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                    f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
                    f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                )
            )
        else:
            groups = [f"{r.getrandbits(16):x}" for _ in range(8)]
            text = self.any(
                (
                    "2001:db8:" + ":".join(groups[2:]),
                    f"2a02:{groups[1]}:{groups[2]}::{groups[3]}",
                    f"fe80::{groups[4]}:{groups[5]}:{groups[6]}:{groups[7]}",
                    ":".join(f"{r.getrandbits(16):04x}" for _ in range(8)),
                )
            )
        return _Val(
            "ip_address",
            text,
            ("ip", "client_ip", "remote_addr", "source_ip", "host_ip", "x-forwarded-for", "peer", "ipAddress"),
            self.pick(("the client IP", "the source address", "their IP address", "the host")),
        )

    def street_address(self) -> _Val:
        loc = self.locale()
        fk = self.fakers[loc]
        form = self.rng.random()
        if loc == "en_US":
            street = f"{self.rng.randint(1, 9899)} {fk.street_name()}"
            if self.chance(0.3):
                street += " " + fk.secondary_address()
            lines = [street]
            if form > 0.2:
                lines.append(f"{fk.city()}, {fk.state_abbr()} {fk.zipcode()}")
        else:
            lines = [ln.strip() for ln in fk.address().split("\n") if ln.strip()]
            street = lines[:2] if loc == "en_GB" and len(lines) >= 4 else lines[:1]
            if form < 0.2 and re.search(r"\d", street[-1]):  # the street line only, when it has a number
                lines = street
        text = "\n".join(lines)
        oneline = ", ".join(lines)
        return _Val(
            "street_address",
            text,
            (
                "address",
                "shipping_address",
                "billing_address",
                "street_address",
                "home_address",
                "mailing_address",
                "addr",
                "deliveryAddress",
            ),
            self.pick(("my address", "the shipping address", "the billing address", "their home address")),
            oneline=oneline,
        )

    def password(self) -> _Val:
        r = self.rng
        kind = r.random()
        if kind < 0.35:
            text = self.chars(_ALNUM + _PW_SPECIAL, r.randint(10, 24))
        elif kind < 0.6:  # human-made
            word = self.any(("Summer", "Winter", "Dragon", "Monkey", "Sunshine", "Football", "Welcome", "Spring"))
            text = f"{word}{r.randint(1970, 2026)}{self.any('!#?@*.')}"
            if r.random() < 0.3:
                text = text.replace("o", "0").replace("a", "@")
        elif kind < 0.75:  # passphrase
            words = [w.lower() for w in self.en.words(4) if w.isalpha()]
            text = "-".join(words or ["correct", "horse", "battery", "staple"]) + str(r.randint(1, 99))
        elif kind < 0.9:
            text = self.fakers[self.locale()].password(length=r.randint(12, 20), special_chars=False)
        else:
            text = self.chars(_HEX, 32)
        return _Val(
            "password",
            text,
            (
                "password",
                "PASSWORD",
                "db_password",
                "passwd",
                "pwd",
                "admin_password",
                "DB_PASSWORD",
                "smtp_password",
                "pass",
                "user.password",
                "POSTGRES_PASSWORD",
                "login_password",
            ),
            self.pick(("my password", "the admin password", "the new password", "the temp password")),
        )

    def api_key(self) -> _Val:
        r = self.rng
        provider = self.any(
            (
                "stripe",
                "stripe_rk",
                "slack",
                "google",
                "openai",
                "openai_proj",
                "anthropic",
                "sendgrid",
                "twilio",
                "huggingface",
                "mailgun",
                "generic_hex",
                "generic_b62",
                "generic_b62",
            )
        )
        if provider == "stripe":
            text = "sk_live_" + self.chars(_ALNUM, self.any((24, 99)))
            keys, label = ("STRIPE_SECRET_KEY", "stripe_key", "stripe.api_key", "STRIPE_API_KEY"), "Stripe secret key"
        elif provider == "stripe_rk":
            text = "rk_live_" + self.chars(_ALNUM, 24)
            keys, label = ("STRIPE_RESTRICTED_KEY", "stripe_rk"), "Stripe restricted key"
        elif provider == "slack":
            p = self.any(("xoxb", "xoxb", "xoxp", "xoxa"))
            text = f"{p}-{self.chars(string.digits, r.randint(10, 13))}-{self.chars(string.digits, r.randint(10, 13))}"
            text += f"-{self.chars(_ALNUM, 24)}"
            keys, label = ("SLACK_BOT_TOKEN", "slack_token", "SLACK_TOKEN", "slack.bot_token"), "Slack bot token"
        elif provider == "google":
            text = "AIza" + self.chars(_B64URL, 35)
            keys, label = ("GOOGLE_API_KEY", "maps_api_key", "firebase.apiKey", "GCP_API_KEY"), "Google API key"
        elif provider == "openai":
            text = "sk-" + self.chars(_ALNUM, 20) + "T3BlbkFJ" + self.chars(_ALNUM, 20)
            keys, label = ("OPENAI_API_KEY", "openai_key", "openai.api_key", "LLM_API_KEY"), "OpenAI key"
        elif provider == "openai_proj":
            n = r.randint(48, 74)
            text = "sk-proj-" + self.chars(_B64URL, n) + "T3BlbkFJ" + self.chars(_B64URL, n)
            keys, label = ("OPENAI_API_KEY", "openai_api_key", "OPENAI_KEY"), "OpenAI project key"
        elif provider == "anthropic":
            text = "sk-ant-api03-" + self.chars(_B64URL, 93) + "AA"
            keys, label = ("ANTHROPIC_API_KEY", "anthropic_key", "claude.api_key"), "Anthropic API key"
        elif provider == "sendgrid":
            text = "SG." + self.chars(_B64URL, 22) + "." + self.chars(_B64URL, 43)
            keys, label = ("SENDGRID_API_KEY", "sendgrid_key", "mail.api_key"), "SendGrid API key"
        elif provider == "twilio":
            text = "SK" + self.chars(_HEX, 32)
            keys, label = ("TWILIO_API_KEY", "twilio_key_sid", "twilio.api_key"), "Twilio API key"
        elif provider == "huggingface":
            text = "hf_" + self.chars(string.ascii_letters, 34)
            keys, label = ("HF_TOKEN", "HUGGINGFACE_TOKEN", "hf_api_token"), "Hugging Face token"
        elif provider == "mailgun":
            text = "key-" + self.chars(_HEX, 32)
            keys, label = ("MAILGUN_API_KEY", "mailgun_key", "mailgun.api_key"), "Mailgun key"
        elif provider == "generic_hex":
            text = self.chars(_HEX, self.any((32, 40, 64)))
            keys = ("api_key", "apiKey", "x-api-key", "API_KEY", "client_secret", "apikey", "access_key", "API_TOKEN")
            label = "API key"
        else:
            text = self.chars(_ALNUM, r.randint(32, 48))
            keys = ("api_key", "X-Api-Key", "service_api_key", "API_SECRET", "auth_token", "apiToken", "secret_key")
            label = "API key"
        return _Val("api_key", text, keys, self.pick((f"the {label}", f"our {label}", f"my {label}")))

    def aws_key(self, part: str = "") -> _Val:
        part = part or self.any(("id", "secret"))
        if part == "id":
            text = self.any(("AKIA", "AKIA", "AKIA", "ASIA")) + self.chars(_B32, 16)
            keys = ("aws_access_key_id", "AWS_ACCESS_KEY_ID", "accessKeyId", "aws.access_key_id", "AccessKeyId")
            label = self.pick(("the AWS access key id", "my AWS access key", "the access key ID"))
        else:
            text = self.chars(_ALNUM + "/+", 40)
            keys = (
                "aws_secret_access_key",
                "AWS_SECRET_ACCESS_KEY",
                "secretAccessKey",
                "aws.secret_access_key",
                "SecretAccessKey",
            )
            label = self.pick(("the AWS secret access key", "my AWS secret key", "the secret access key"))
        return _Val("aws_key", text, keys, label, extra={"part": part})

    def jwt(self) -> _Val:
        r = self.rng
        alg = self.any(("HS256", "RS256", "ES256", "HS512", "RS256"))
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if alg.startswith("RS") and r.random() < 0.6:
            header["kid"] = self.chars(_HEX, 16)
        iat = 1_700_000_000 + r.randrange(60_000_000)
        payload: dict[str, Any] = {
            "sub": self.any((self.uuid(), str(r.randint(1000, 999_999)), f"auth0|{self.chars(_HEX, 24)}"))
        }
        if r.random() < 0.6:
            payload["iss"] = f"https://{self.any(('auth', 'login', 'id'))}.{_ascii(self.any(_COMPANIES))}.com/"
        if r.random() < 0.5:
            payload["aud"] = self.any(("api", "web", f"{self.any(_SERVICES)}-service"))
        payload["iat"] = iat
        payload["exp"] = iat + self.any((300, 900, 3600, 86400))
        if r.random() < 0.5:
            payload["scope"] = " ".join(r.sample(["read", "write", "admin", "openid", "profile", "email"], 2))
        if r.random() < 0.3:
            payload["role"] = self.any(("user", "admin", "service"))
        sig_len = {"HS256": 32, "HS512": 64, "RS256": 256, "ES256": 64}[alg]
        sep = (",", ":")
        text = ".".join(
            (
                _b64url(json.dumps(header, separators=sep).encode()),
                _b64url(json.dumps(payload, separators=sep).encode()),
                _b64url(r.randbytes(sig_len)),
            )
        )
        return _Val(
            "jwt",
            text,
            ("access_token", "id_token", "token", "jwt", "bearer", "session_token", "authToken", "refresh_token"),
            self.pick(("the access token", "my session token", "the bearer token", "the id token")),
        )

    def github_token(self) -> _Val:
        if self.chance(0.25):
            text = "github_pat_" + self.chars(_ALNUM, 22) + "_" + self.chars(_ALNUM, 59)
        else:
            body = self.chars(_ALNUM, 30)
            crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
            check = ""
            while crc:
                crc, rem = divmod(crc, 62)
                check = _B62[rem] + check
            text = self.any(("ghp_", "ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + body + check.rjust(6, "0")
        return _Val(
            "github_token",
            text,
            ("GITHUB_TOKEN", "GH_TOKEN", "github_token", "gh_pat", "GITHUB_PAT", "token", "github.token", "CR_PAT"),
            self.pick(("my GitHub token", "the PAT", "the GitHub personal access token", "the deploy token")),
        )

    def database_url(self) -> _Val:
        r = self.rng
        scheme = self.any(
            (
                "postgres",
                "postgresql",
                "postgresql+psycopg2",
                "postgresql+asyncpg",
                "mysql",
                "mysql+pymysql",
                "mongodb",
                "mongodb+srv",
                "redis",
                "rediss",
            )
        )
        user = self.any(("app", "admin", "postgres", "root", "svc_orders", "readonly", "etl", "default", "api_user"))
        if self.chance(0.3):
            user = _ascii(self.en.user_name()) or user
        pw = self.chars(_ALNUM + "._~-", r.randint(10, 28))
        if scheme.startswith("mongodb+srv"):
            host = f"cluster{r.randint(0, 9)}.{self.chars(string.ascii_lowercase + string.digits, 5)}.mongodb.net"
            tail = f"/{self.any(_SERVICES)}?retryWrites=true&w=majority"
        elif scheme.startswith("redis"):
            host = f"{self.hostname()}:{self.any((6379, 6380))}"
            tail = f"/{r.randint(0, 15)}"
            if self.chance(0.5):
                user = self.any(("", "default"))
        else:
            port = 5432 if scheme.startswith("postgres") else 3306 if scheme.startswith("mysql") else 27017
            host = self.any(
                (
                    self.hostname(),
                    f"{self.any(_SERVICES)}-prod.{self.chars(string.ascii_lowercase + string.digits, 12)}"
                    f".{self.any(('us-east-1', 'eu-west-1', 'eu-central-1'))}.rds.amazonaws.com",
                    f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                )
            )
            host = f"{host}:{port}"
            tail = f"/{self.any(_SERVICES)}" + self.any(("", "", "?sslmode=require", "?charset=utf8mb4"))
        text = f"{scheme}://{user}:{pw}@{host}{tail}"
        return _Val(
            "database_url",
            text,
            (
                "DATABASE_URL",
                "database_url",
                "db_url",
                "REDIS_URL",
                "MONGO_URI",
                "dsn",
                "SQLALCHEMY_DATABASE_URI",
                "url",
            ),
            self.pick(("the database URL", "the connection string", "the DSN", "the prod DB URL")),
        )

    def private_key(self) -> _Val:
        r = self.rng
        kind = r.random()
        # A small pool of RSA keys per split, the same for every seed: finding primes in Python takes ~0.3 s.
        if kind < 0.3:
            text = _rsa_pems(self.part * 10 + r.randrange(2), 2048)[0]
        elif kind < 0.45:
            text = _rsa_pems(self.part * 10 + r.randrange(4), 1024)[1]
        elif kind < 0.65:
            text = _ec_pems(r.getrandbits(250) + 1)[0]
        elif kind < 0.75:
            text = _ec_pems(r.getrandbits(250) + 1)[1]
        else:
            comment = self.any(("deploy@ci", "ops@bastion", "git@runner-3", "backup-key"))
            text = _openssh_ed25519(r.randbytes(32), comment, r.getrandbits(32))[0]
        return _Val(
            "private_key",
            text,
            ("private_key", "ssh_key", "tls_key", "PRIVATE_KEY", "signing_key", "key_pem", "deploy_key", "id_rsa"),
            self.pick(("the deploy key", "the private key", "my SSH key", "the TLS key")),
        )

    def value(self, typ: str) -> _Val:
        return getattr(self, typ)()

    # Decoys (hard negatives) -------------------------------------------------------------------

    def decoy(self) -> _Val:
        kind = self.any(_DECOY_KINDS)
        val = self._decoy(kind)
        val.extra["kind"] = kind
        return val

    def _decoy(self, kind: str) -> _Val:
        r = self.rng
        if kind == "uuid":
            return _Val(None, self.uuid(), ("request_id", "trace_id", "idempotency_key", "job_id", "session_id"), "id")
        if kind == "sha256":
            return _Val(
                None, self.any(("sha256:", "")) + self.chars(_HEX, 64), ("digest", "sha256", "checksum"), "digest"
            )
        if kind == "md5":
            return _Val(None, self.chars(_HEX, 32), ("md5", "etag", "content_md5", "checksum"), "checksum")
        if kind == "git":
            sha = self.chars(_HEX, 40)
            return _Val(None, sha if self.chance(0.6) else sha[:7], ("commit", "sha", "revision", "git_sha"), "commit")
        if kind == "version":
            text = self.any(
                (
                    f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 40)}",
                    f"v{r.randint(1, 20)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
                    f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 20)}-rc.{r.randint(1, 5)}",
                    f"10.0.{r.randint(17000, 26100)}.{r.randint(1, 4000)}",
                    f"v{r.randint(1, 3)}.{r.randint(0, 40)}.{r.randint(0, 9)}",
                )
            )
            return _Val(None, text, ("version", "image_tag", "app_version", "build"), "version")
        if kind == "date":
            return _Val(None, self.date(), ("created_at", "updated_at", "due", "timestamp", "date"), "date")
        if kind == "epoch":
            text = str(r.randint(1_600_000_000, 1_800_000_000)) + self.any(("", "", str(r.randint(100, 999))))
            return _Val(None, text, ("ts", "epoch", "expires_at", "time"), "timestamp")
        if kind == "order":  # 16 digits failing Luhn
            partial = "".join(r.choices(string.digits, k=15))
            good = _luhn_digit(partial)
            text = partial + str((int(good) + r.randint(1, 9)) % 10)
            if self.chance(0.3):
                text = "-".join(text[i : i + 4] for i in range(0, 16, 4))
            return _Val(None, text, ("order_id", "invoice_number", "tracking_number", "reference"), "order number")
        if kind == "bad_ssn":
            area = self.any(("000", "666", f"9{r.randint(0, 9)}{r.randint(0, 9)}"))
            text = f"{area}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"
            return _Val(None, text, ("ref", "case_number", "part_no", "claim"), "reference")
        if kind == "public_key":
            seed = r.getrandbits(32)
            text = self.any(
                (
                    _ec_pems(r.getrandbits(250) + 1)[2],
                    _rsa_pems(self.part * 10 + seed % 4, 1024)[2],
                    _rsa_pems(self.part * 10 + seed % 2, 2048)[3],
                    _openssh_ed25519(r.randbytes(32), "deploy@ci", 1)[1],
                )
            )
            return _Val(None, text, ("public_key", "verify_key", "ssh_authorized_key", "jwks_pem"), "public key")
        if kind == "certificate":
            host = f"{self.any(_SERVICES)}.{_ascii(self.any(_COMPANIES))}.com"
            return _Val(
                None, _certificate(r.randrange(40), host), ("ca_cert", "tls_cert", "certificate"), "certificate"
            )
        if kind == "url":
            text = self.any(
                (
                    f"postgres://{self.hostname()}:5432/{self.any(_SERVICES)}",
                    f"redis://{self.hostname()}:6379/0",
                    f"mysql://{self.hostname()}:3306/{self.any(_SERVICES)}",
                    f"mongodb+srv://cluster0.{self.chars(string.ascii_lowercase, 5)}.mongodb.net/{self.any(_SERVICES)}",
                    f"https://{self.any(_SERVICES)}.{_ascii(self.any(_COMPANIES))}.com/api/v2/{self.any(_SERVICES)}",
                    "https://example.com",
                    f"https://github.com/{_ascii(self.any(_COMPANIES))}/{self.any(_SERVICES)}/pull/{r.randint(1, 99)}",
                )
            )
            return _Val(None, text, ("DATABASE_URL", "endpoint", "homepage", "REDIS_URL", "upstream"), "URL")
        if kind == "data_uri":
            raw = b"\x89PNG\r\n\x1a\n" + r.randbytes(r.randint(60, 400))
            text = "data:image/png;base64," + base64.b64encode(raw).decode()
            return _Val(None, text, ("avatar", "icon", "thumbnail", "logo"), "image")
        if kind == "placeholder_pw":
            text = self.any(
                ("********", "<redacted>", "${DB_PASSWORD}", "REDACTED", "{{ vault_db_password }}", "<password>")
            )
            return _Val(None, text, ("password", "db_password", "PASSWORD", "passwd"), "password")
        if kind == "placeholder_key":
            text = self.any(
                (
                    "YOUR_API_KEY_HERE",
                    "<your-api-key>",
                    "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                    "${STRIPE_SECRET_KEY}",
                    "AKIAXXXXXXXXXXXXXXXX",
                    "ghp_<token>",
                    "os.environ['OPENAI_API_KEY']",
                )
            )
            return _Val(None, text, ("api_key", "token", "OPENAI_API_KEY", "aws_access_key_id"), "API key")
        if kind == "word":
            text = self.any((self.any(_CITIES), self.any(_WEEKDAYS), self.any(_MONTHS), self.any(_PRODUCTS)))
            return _Val(None, text, ("region", "city", "day", "platform", "product", "team", "office"), "location")
        if kind == "oid":
            # Not four-part OIDs such as 2.5.29.17: those are IPv4 addresses as written.
            text = self.any(
                ("1.3.6.1.4.1.311.21.7", "1.2.840.113549.1.1.11", "1.3.6.1.5.5.7.3.1", "1.3.6.1.4.1.11129.2.4.2")
            )
            return _Val(None, text, ("oid", "extension", "policy"), "OID")
        if kind == "number":
            key, text = self.any(
                (
                    ("count", f"{r.randint(1000, 99_999):,}"),
                    ("amount", f"{r.randint(1, 9999)}.{r.randint(0, 99):02d}"),
                    ("port", str(r.randint(1024, 65535))),
                    ("error_code", f"0x{r.getrandbits(32):08x}"),
                    ("color", f"#{r.getrandbits(24):06x}"),
                    ("latency_ms", str(r.randint(1, 30000))),
                )
            )
            return _Val(None, text, (key,), key.replace("_", " "))
        raise AssertionError(kind)


_DECOY_KINDS = (
    "uuid",
    "sha256",
    "md5",
    "git",
    "version",
    "date",
    "epoch",
    "order",
    "bad_ssn",
    "public_key",
    "certificate",
    "url",
    "data_uri",
    "placeholder_pw",
    "placeholder_key",
    "word",
    "oid",
    "number",
)
_MULTILINE = frozenset({"private_key"})


# --------------------------------------------------------------------------------------------
# Sentences for prose scenes. {v} is the value, {label}/{Label} its name, {key} a config key,
# and extras (exp, cvv, brand, date, company, host, n, city, day) fill the rest.

_GENERIC = (
    "{Label}: {v}",
    "The {label} is {v}, please double-check it.",
    "I updated {label} to {v} in the ticket.",
    "Can you verify {v}? That's {label}.",
    "Noted — {label} {v}.",
    "For reference, {label} = {v}",
    "Customer provided {label} ({v}) over chat.",
    "Confirming {label}: {v}. Let me know if anything changed.",
)
_PROSE: dict[str, tuple[str, ...]] = {
    "email": (
        "You can reach me at {v}.",
        "Please cc {v} on the thread.",
        "Delivery to {v} failed: 550 mailbox unavailable.",
        "Forwarding this to {v} for approval.",
        "Invite sent to {v}.",
        "<{v}> unsubscribed on {date}.",
        "The reset link went to {v} but they never got it.",
        "Ping {v} if the job fails again.",
        "Added {v} as a billing contact.",
        "Bounce from {v} (mailbox full).",
    ),
    "ssn": (
        "My SSN is {v}.",
        "SSN on file: {v}",
        "The W-2 shows social security number {v}.",
        "Applicant SSN {v} did not match the bureau record.",
        "They read out their social {v} on the call.",
        "Please redact SSN {v} from the export.",
        "SSN# {v} belongs to a different account.",
        "Verified identity with social security number {v} and DOB.",
    ),
    "credit_card": (
        "Charge the card {v}, exp {exp}.",
        "Card number {v} was declined (insufficient funds).",
        "Customer paid with {brand} {v}.",
        "Use my {brand} card {v} for the renewal.",
        "Payment failed for PAN {v}.",
        "Card {v} exp {exp} cvv {cvv}",
        "Refund issued to {brand} card {v}.",
        "Please update billing to card {v}.",
    ),
    "phone": (
        "Call me at {v}.",
        "My cell is {v}, text is fine.",
        "Caller ID showed {v}.",
        "Reach the on-call at {v} after 6pm.",
        "Phone: {v}",
        "Left a voicemail at {v} on {day}.",
        "SMS to {v} failed with code 30003.",
        "Best number to reach her is {v}.",
    ),
    "person_name": (
        "{v} approved the change.",
        "Thanks, {v}!",
        "Assigned to {v}.",
        "I spoke with {v} from {company} yesterday.",
        "Meeting notes: {v} will follow up on the invoice.",
        "Please add {v} to the on-call rotation.",
        "cc: {v}",
        "The account holder is {v}.",
        "Dear {v},",
        "Escalated by {v} on {date}.",
        "Reviewed-by: {v}",
        "{v} reported that the export is missing rows.",
    ),
    "ip_address": (
        "Connection refused from {v}.",
        "Whitelisted {v} in the security group.",
        "Requests from {v} are being rate-limited.",
        "ssh ops@{v} -p 22",
        "Client IP {v} failed the geo check.",
        "Resolved the API host to {v}.",
        "Blocked {v} after 40 failed logins.",
        "The pod is reachable at {v} on port 8443.",
    ),
    "street_address": (
        "Ship it to {v}.",
        "Our office moved to {v}.",
        "Billing address: {v}",
        "I live at {v}.",
        "Pickup location is {v}.",
        "Return label should use {v}.",
        "The courier could not find {v}.",
        "New tenant address: {v}",
    ),
    "password": (
        "My password is {v}",
        "The temp password is {v}, change it on first login.",
        "use password {v} for the staging admin",
        "Login: admin / password: {v}",
        "pw: {v}",
        "I reset the password to {v} — does it work now?",
        "The wifi password is {v}",
        "Password for the shared mailbox: {v}",
        "GET /login?user=admin&password={v} returned 302",
        "mysql -u root --password={v} -h db-1.internal",
    ),
    "api_key": (
        "Here's {label}: {v}",
        "I rotated {label}; the new value is {v}",
        "Use `{v}` as {label}.",
        "export {KEY}={v}",
        "Set {key} to {v} and restart the worker.",
        "Found {label} hardcoded in the repo: {v}",
        "The request fails with 401 even with {key}={v}",
        "Paste {v} into the integration settings.",
        "curl 'https://api.{host}/v2/items?api_key={v}&limit=50'",
        "The request URL was https://maps.{host}/geocode/json?address=Main+St&key={v}",
    ),
    "aws_key": (
        "Set {key} to {v} and retry.",
        "aws configure rejected {label} {v}",
        "Leaked {label}: {v}",
        "export {KEY}={v}",
        "The CI job uses {label} {v}.",
        "IAM says {label} {v} was last used on {date}.",
    ),
    "jwt": (
        "Authorization: Bearer {v}",
        "Here's the token from the login response: {v}",
        "The id_token {v} fails signature validation.",
        "curl -H 'Authorization: Bearer {v}' https://api.{host}/v1/me",
        "Decoding {v} shows it expired an hour ago.",
        "Set-Cookie: session={v}; Path=/; HttpOnly",
    ),
    "github_token": (
        "git clone https://x-access-token:{v}@github.com/{org}/{repo}.git",
        "Use GH_TOKEN={v} for the release job.",
        "My PAT is {v}",
        "Authorization: token {v}",
        "The workflow leaked {v} in its logs.",
        "echo {v} | gh auth login --with-token",
    ),
    "database_url": (
        "Connect with {v}",
        "DATABASE_URL is {v}",
        'psql "{v}" -c "select 1"',
        "Migrations failed against {v}: timeout.",
        "The replica lives at {v}.",
        "Switch the worker to {v} tonight.",
    ),
    "private_key": (
        "Here is {label}:\n\n```\n{v}\n```",
        "{Label} (don't share):\n{v}",
        "Paste this into ~/.ssh/id_deploy:\n{v}\n",
        "The pod mounts {label}:\n```pem\n{v}\n```",
    ),
}
_DECOY_PROSE: dict[str, tuple[str, ...]] = {
    "uuid": (
        "Request {v} failed after 3 retries.",
        "Job {v} is still queued.",
        "Trace {v} shows the slow span.",
        "Idempotency key {v} was reused.",
    ),
    "sha256": ("Artifact digest {v} matches the registry.", "Pinned the base image to {v}.", "Checksum {v} verified."),
    "md5": ("md5sum reported {v} for the archive.", "ETag {v} did not change.", "The blob hash is {v}."),
    "git": ("See commit {v} for the fix.", "Reverted {v} after the outage.", "Cherry-picked {v} onto the release."),
    "version": ("Deployed {v} at {time} on {day}.", "Upgraded the agent to {v}.", "The bug is fixed in {v}."),
    "date": ("The job last ran {v}.", "Due date moved to {v}.", "Created {v}, never updated."),
    "epoch": ("Token expires at {v} (epoch).", "ts={v} in the last heartbeat.", "Last seen {v}."),
    "order": ("Order #{v} shipped on {day}.", "Invoice {v} is overdue.", "Tracking number {v} shows delivered."),
    "bad_ssn": ("Reference number {v}.", "Case {v} was closed.", "Part no. {v} is back in stock.", "Claim {v} denied."),
    "public_key": (
        "Here is the {label} for the allow-list:\n```\n{v}\n```",
        "Add this {label} to the trust store:\n{v}",
        "Verification uses the {label} below.\n{v}\n",
    ),
    "certificate": (
        "Here is the {label}:\n```\n{v}\n```",
        "The server presents this {label}:\n{v}",
        "Pin the {label} below.\n{v}\n",
    ),
    "url": ("Connect to {v} (credentials come from Vault).", "The service is at {v}.", "Docs: {v}", "Upstream is {v}"),
    "data_uri": ("The avatar is inlined as {v}", "Logo: {v}", "The thumbnail came back as {v}"),
    "placeholder_pw": (
        "password: {v}",
        "The password field shows {v} in the export.",
        "Login: admin / password: {v}",
        "Set the password to {v} in the template.",
    ),
    "placeholder_key": (
        "api_key = {v}",
        "Set OPENAI_API_KEY to {v} before running.",
        "Replace {v} with your key.",
        "The README says token: {v}",
    ),
    "word": ("We discussed {v} in the standup.", "Status: {v}", "{v} works for me.", "Tagged it with {v}."),
    "oid": ("OID {v} identifies the extension.", "The policy OID is {v}.", "Matched extension {v}."),
    "number": ("Got {v} back from the API.", "The {label} was {v}.", "{Label}: {v}", "It reported {v} as the {label}."),
}
_DECOY_SENTENCES = (
    "The password reset email was sent to the user.",
    "Set the password via the DB_PASSWORD environment variable, never inline.",
    "API key rotation is scheduled for {month}.",
    "Meeting with the {city} team on {day}.",
    "We moved the build to {product} last {month}.",
    "Forgot your password? Use the self-service portal.",
    "Rotate the AWS keys every 90 days per policy.",
    "Store the private key in Vault, not in the repo.",
    "The token expired; the client refreshes it automatically.",
    "Call the /v1/users/{n}/email endpoint to change it.",
    "Process exited with code 137 after 3600s.",
    "Our {city} office closes early on {day}.",
    "{product} {n} is out; release notes on the wiki.",
    "password_hash and api_key_id are indexed columns.",
)
_CODE_DECOYS = (
    'password = os.environ["DB_PASSWORD"]',
    "api_key = settings.STRIPE_SECRET_KEY",
    'token = jwt.encode(payload, signing_key, algorithm="RS256")',
    "def send_email(to: str, subject: str, body: str) -> None: ...",
    "secret = vault.read('secret/data/payments')['data']['key']",
    "const apiKey = process.env.OPENAI_API_KEY;",
    "if user.check_password(form.password.data):",
    "ssn = request.json.get('ssn')  # validated below",
    "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    "DATABASE_URL=${DATABASE_URL:-postgres://localhost/dev}",
)


# --------------------------------------------------------------------------------------------
# Scenes


class _Scene:
    def __init__(self, gen: _Gen, items: list[_Val]) -> None:
        self.g = gen
        self.items = items
        self.d = _Doc()

    def key(self, val: _Val) -> str:
        return self.g.pick(val.keys)

    def extras(self, val: _Val) -> dict[str, str]:
        g = self.g
        out = {
            "date": g.date(),
            "day": g.any(_WEEKDAYS),
            "month": g.any(_MONTHS),
            "city": g.any(_CITIES),
            "company": g.any(_COMPANIES),
            "product": g.any(_PRODUCTS),
            "host": f"{_ascii(g.any(_COMPANIES))}.com",
            "org": _ascii(g.any(_COMPANIES)),
            "repo": g.any(_SERVICES),
            "n": str(g.rng.randint(2, 9999)),
            "time": g.timestamp()[11:19],
            "label": val.label,
            "Label": val.label[:1].upper() + val.label[1:],
            "key": self.key(val),
        }
        out["KEY"] = re.sub(r"[^A-Za-z0-9]", "_", out["key"]).upper()
        out.update(val.extra)
        return out

    def sentence(self, val: _Val) -> str:
        """One sentence saying the value: a placeholder stands for it until the doc is finished."""
        g = self.g
        if val.typ is None:
            template = g.pick(_DECOY_PROSE[val.extra["kind"]])
        elif val.typ in _MULTILINE:
            template = g.pick(_PROSE[val.typ])
        else:
            template = g.pick(_PROSE[val.typ]) if g.chance(0.75) else g.pick(_GENERIC)
        oneline = val.typ == "street_address" and g.chance(0.85)
        return template.format(v=self.d.put(val, oneline=oneline), **self.extras(val))

    def filler(self, k: int = 1) -> list[str]:
        g = self.g
        out = []
        for _ in range(k):
            r = g.rng.random()
            if r < 0.45:
                out.append(g.pick(_FILLER_SENTENCES))
            elif r < 0.75:
                out.append(g.en.sentence(nb_words=g.rng.randint(6, 14)))
            elif r < 0.9:
                out.append(g.pick(_DECOY_SENTENCES).format(**self.extras(_Val(None, "", ("x",), "x"))))
            else:
                out.append(g.pick(_CODE_DECOYS))
        return out

    def kv_pairs(self, esc: str, *, oneline: bool = True) -> list[tuple[str, str]]:
        return [(self.key(v), self.d.put(v, esc, oneline=oneline)) for v in self.items]


# Key-value scenes -------------------------------------------------------------------------


def _scene_json_tool_call(s: _Scene) -> str:
    g = s.g
    args = dict(s.kv_pairs("json"))
    if g.chance(0.5):
        args["note"] = g.pick(_FILLER_SENTENCES)
    call = {"type": "tool_use", "id": "toolu_" + g.chars(_ALNUM, 24), "name": g.any(_TOOLS), "input": args}
    return json.dumps(call, indent=g.any((None, 2)), ensure_ascii=False)


def _scene_json_response(s: _Scene) -> str:
    g = s.g
    data = dict(s.kv_pairs("json"))
    data["id"] = g.rng.randint(1, 10**6)
    body = {"status": "ok", "request_id": g.uuid(), "data": data, "took_ms": g.rng.randint(2, 900)}
    return "HTTP/1.1 200 OK\nContent-Type: application/json\n\n" + json.dumps(body, indent=2, ensure_ascii=False)


def _scene_tool_result(s: _Scene) -> str:
    """A tool result whose content is JSON text inside JSON: values are escaped twice."""
    g = s.g
    inner = {"ok": True, "record": dict(s.kv_pairs("json2")), "source": g.any(_SERVICES)}
    msg = {"role": "tool", "tool_call_id": "call_" + g.chars(_ALNUM, 24), "content": json.dumps(inner)}
    return json.dumps(msg)


def _scene_function_call(s: _Scene) -> str:
    """An OpenAI-style function call: ``arguments`` is a JSON string."""
    g = s.g
    call = {
        "id": "call_" + g.chars(_ALNUM, 24),
        "type": "function",
        "function": {"name": g.any(_TOOLS), "arguments": json.dumps(dict(s.kv_pairs("json2")))},
    }
    return json.dumps({"role": "assistant", "tool_calls": [call]}, indent=g.any((None, 2)))


def _scene_yaml(s: _Scene) -> str:
    g = s.g
    lines = [f"# {g.any(_SERVICES)} config", f"{g.any(_SERVICES)}:", f"  region: {g.any(('eu-west-1', 'us-east-1'))}"]
    for v in s.items:
        key = s.key(v)
        if "\n" in v.text and (v.typ in _MULTILINE or (v.typ is None and v.text.startswith("-----"))):
            lines.append(f"  {key}: |\n    {s.d.put(v, 'indent:4')}")
        elif g.chance(0.5):
            lines.append(f'  {key}: "{s.d.put(v, "json", oneline=True)}"')
        else:
            lines.append(f"  {key}: {s.d.put(v, oneline=True)}")
    lines.append(f"  replicas: {g.rng.randint(1, 6)}")
    return "\n".join(lines)


def _scene_env(s: _Scene) -> str:
    g = s.g
    lines = [f"# .env for {g.any(_SERVICES)}", f"APP_ENV={g.any(('production', 'staging'))}"]
    for v in s.items:
        key = s.key(v)
        key = re.sub(r"[^A-Za-z0-9]", "_", key).upper()
        prefix = "export " if g.chance(0.3) else ""
        if "\n" in v.text or " " in (v.oneline or v.text) or g.chance(0.3):
            lines.append(f'{prefix}{key}="{s.d.put(v, "nl", oneline=True)}"')
        else:
            lines.append(f"{prefix}{key}={s.d.put(v, oneline=True)}")
    lines.append(f"LOG_LEVEL={g.any(('info', 'debug', 'warn'))}")
    return "\n".join(lines)


def _scene_log(s: _Scene) -> str:
    g = s.g
    lines = []
    for v in s.items:
        level = g.any(("INFO", "WARN", "ERROR", "DEBUG"))
        msg = g.any(("request completed", "validation failed", "user updated", "retrying upstream call", "cache miss"))
        val = s.d.put(v, "nl", oneline=True)
        if " " in (v.oneline or v.text):
            val = f'"{val}"'
        lines.append(
            f"{g.timestamp()} {level:<5} [{g.any(_SERVICES)}] {msg} {s.key(v)}={val} "
            f"req={g.uuid()[:8]} dur_ms={g.rng.randint(1, 999)}"
        )
        if g.chance(0.3):
            lines.append(f"{g.timestamp()} INFO  [{g.any(_SERVICES)}] {g.pick(_FILLER_SENTENCES)}")
    return "\n".join(lines)


def _scene_csv(s: _Scene) -> str:
    g = s.g
    header = ["id"] + [s.key(v) for v in s.items] + ["status"]
    row = [str(g.rng.randint(1, 99_999))]
    for v in s.items:
        needs_quotes = any(c in (v.oneline or v.text) for c in ',"\n') or g.chance(0.2)
        cell = s.d.put(v, "csv", oneline=True)
        row.append(f'"{cell}"' if needs_quotes else cell)
    row.append(g.any(("active", "pending", "closed")))
    return ",".join(header) + "\n" + ",".join(row)


def _scene_sql(s: _Scene) -> str:
    g = s.g
    cols = [re.sub(r"\W", "_", s.key(v)).lower() for v in s.items]
    vals = [f"'{s.d.put(v, 'sql', oneline=True)}'" for v in s.items]
    table = g.any(("customers", "users", "accounts", "contacts", "credentials"))
    if g.chance(0.5):
        return f"INSERT INTO {table} ({', '.join(cols)}, created_at)\nVALUES ({', '.join(vals)}, now());"
    sets = ", ".join(f"{c} = {v}" for c, v in zip(cols, vals, strict=True))
    return f"UPDATE {table} SET {sets} WHERE id = {g.rng.randint(1, 99999)};"  # noqa: S608 - sample text, not a query


def _scene_python(s: _Scene) -> str:
    g = s.g
    lines = ['"""Settings for the ' + g.any(_SERVICES) + ' service."""', "import os", ""]
    for v in s.items:
        name = re.sub(r"\W", "_", s.key(v)).upper()
        if "\n" in v.text:
            lines.append(f'{name} = """{s.d.put(v)}"""')
        else:
            lines.append(f'{name} = "{s.d.put(v, "json", oneline=True)}"')
    lines.append(f"DEBUG = {g.any(('True', 'False'))}")
    return "\n".join(lines)


def _scene_toml(s: _Scene) -> str:
    g = s.g
    lines = [f"[{g.any(_SERVICES)}]", f"enabled = {g.any(('true', 'false'))}"]
    for v in s.items:
        key = re.sub(r"[^A-Za-z0-9_]", "_", s.key(v))
        lines.append(f'{key} = "{s.d.put(v, "json", oneline=True)}"')
    return "\n".join(lines)


def _scene_curl(s: _Scene) -> str:
    g = s.g
    headers = []
    body = {}
    for v in s.items:
        if v.typ in ("jwt",) and g.chance(0.7):
            headers.append(f"-H 'Authorization: Bearer {s.d.put(v)}'")
        elif v.typ in ("api_key", "github_token") and g.chance(0.5):
            header = g.any(("X-Api-Key: ", "Authorization: token ", "api-key: "))
            headers.append(f"-H '{header}{s.d.put(v)}'")
        else:
            body[s.key(v)] = s.d.put(v, "json", oneline=True)
    host = f"https://api.{_ascii(g.any(_COMPANIES))}.com/v1/{g.any(_SERVICES)}"
    parts = [f"curl -sS -X POST {host}", *headers, "-H 'Content-Type: application/json'"]
    if body:
        parts.append(f"-d '{json.dumps(body, ensure_ascii=False)}'")
    return " \\\n  ".join(parts)


def _scene_markdown_table(s: _Scene) -> str:
    lines = ["| field | value |", "| --- | --- |"]
    for v in s.items:
        lines.append(f"| {s.key(v)} | {s.d.put(v, 'nl', oneline=True)} |")
    return f"Here is the record I found:\n\n{chr(10).join(lines)}\n\n{s.filler()[0]}"


# Prose scenes ------------------------------------------------------------------------------


def _scene_chat(s: _Scene) -> str:
    g = s.g
    turns = []
    for v in s.items:
        who = g.any(("user", "assistant"))
        parts = [*s.filler(g.rng.randint(0, 1)), s.sentence(v)]
        g.rng.shuffle(parts)
        turns.append(f"{who}: {' '.join(parts)}")
    turns.append(f"assistant: {' '.join(s.filler(1))}")
    return "\n\n".join(turns)


def _scene_email(s: _Scene) -> str:
    g = s.g
    body = [s.sentence(v) for v in s.items]
    g.rng.shuffle(body)
    subject = g.any(("Re: account update", "Fwd: invoice", "Access request", "Quick question", "Onboarding"))
    head = f"Subject: {subject}\nDate: {g.date()}\n\nHi,\n\n"
    return head + "\n".join(body) + "\n\n" + " ".join(s.filler(1)) + "\n\nBest regards"


def _scene_review(s: _Scene) -> str:
    g = s.g
    out = [f"**Review on `{g.any(_SERVICES)}/{g.any(('settings.py', 'client.ts', 'config.yaml', 'main.go'))}`**"]
    for v in s.items:
        out.append(f"> line {g.rng.randint(3, 400)}: {s.sentence(v)}")
        out.append(
            g.any(
                (
                    "This must not be committed — move it to the secret store.",
                    "Please remove before merge.",
                    "Nit: mask this in logs.",
                )
            )
        )
    return "\n".join(out)


def _scene_ticket(s: _Scene) -> str:
    g = s.g
    lines = [
        f"Ticket #{g.rng.randint(1000, 99999)} — {g.any(('Billing issue', 'Login problem', 'Data request', 'Refund'))}"
    ]
    lines.append(f"Priority: {g.any(('P1', 'P2', 'P3'))}   Opened: {g.date()}")
    lines.append("Description:")
    lines.extend(s.filler(1) + [s.sentence(v) for v in s.items])
    return "\n".join(lines)


def _scene_traceback(s: _Scene) -> str:
    g = s.g
    first, rest = s.items[0], s.items[1:]
    fn = g.any(("validate", "charge", "save_contact", "authenticate", "connect"))
    lines = [
        "Traceback (most recent call last):",
        f'  File "/srv/app/{g.any(_SERVICES)}/handlers.py", line {g.rng.randint(10, 900)}, in handle',
        f"    result = {fn}(payload)",
        f'  File "/srv/app/{g.any(_SERVICES)}/core.py", line {g.rng.randint(10, 900)}, in {fn}',
        "    raise ValueError(msg)",
    ]
    lines.append(f"ValueError: invalid {s.key(first)}: '{s.d.put(first, 'nl', oneline=True)}'")
    if rest:
        lines.append("Locals:")
        lines.extend(f"  {s.key(v)} = '{s.d.put(v, 'nl', oneline=True)}'" for v in rest)
    return "\n".join(lines)


def _scene_slack(s: _Scene) -> str:
    g = s.g
    lines = []
    for v in s.items:
        handle = g.any(("dev-ops", "jbot", "oncall", "sre-team", "ml-agent", "support-bot"))
        lines.append(f"[{g.timestamp()[11:16]}] @{handle}: {s.sentence(v)}")
        if g.chance(0.4):
            lines.append(f"[{g.timestamp()[11:16]}] @{g.any(('helper', 'triage'))}: {s.filler()[0]}")
    return "\n".join(lines)


def _scene_gitlog(s: _Scene) -> str:
    g = s.g
    lines = [
        f"commit {g.chars(_HEX, 40)}",
        f"Date:   {g.date()}",
        "",
        f"    {g.any(('Fix', 'Update', 'Add', 'Remove'))} config",
    ]
    lines.append("")
    lines.extend(f"    {s.sentence(v)}".replace("\n", "\n    ") for v in s.items)
    return "\n".join(lines)


def _scene_incident(s: _Scene) -> str:
    g = s.g
    out = [f"## Incident {g.rng.randint(100, 999)} ({g.date()})", "", "### Timeline"]
    out.extend(f"- {g.timestamp()[11:16]} {s.sentence(v)}" for v in s.items)
    out += ["", "### Follow-ups", f"- {s.filler()[0]}"]
    return "\n".join(out)


# Each list is dealt alternately to dev (even) and test (odd): the splits share no scene.
_KV_SCENES: tuple[Callable[[_Scene], str], ...] = (
    _scene_json_tool_call,
    _scene_json_response,
    _scene_yaml,
    _scene_env,
    _scene_log,
    _scene_csv,
    _scene_sql,
    _scene_python,
    _scene_toml,
    _scene_curl,
    _scene_markdown_table,
    _scene_json_tool_call,  # JSON is the commonest shape of agent traffic: both splits have it
    _scene_tool_result,
    _scene_function_call,
)
_PROSE_SCENES: tuple[Callable[[_Scene], str], ...] = (
    _scene_chat,
    _scene_email,
    _scene_review,
    _scene_ticket,
    _scene_traceback,
    _scene_slack,
    _scene_gitlog,
    _scene_incident,
)


def _sample(gen: _Gen, sid: str) -> Sample:
    g = gen
    items: list[_Val] = []
    if not g.chance(0.22):  # else: a negative-only sample
        k = g.any((1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4))
        for _ in range(k):
            typ = g.any(TYPES)
            if typ == "aws_key" and g.chance(0.5):
                items += [g.aws_key("id"), g.aws_key("secret")]
            else:
                items.append(g.value(typ))
        decoys = g.any((0, 0, 1, 1, 2))
    else:
        decoys = g.any((1, 2, 2, 3, 4))
    for _ in range(decoys):
        items.insert(g.rng.randrange(len(items) + 1), g.decoy())
    if not items:
        items.append(g.decoy())
    scene_fn = g.pick(_KV_SCENES) if g.chance(0.55) else g.pick(_PROSE_SCENES)
    scene = _Scene(g, items)
    text, spans = scene.d.finish(scene_fn(scene))
    return Sample(sid, text, spans, source=scene_fn.__name__.removeprefix("_scene_"))


def generate(n: int, seed: int = DEFAULT_SEED, split: str = "dev") -> list[Sample]:
    """``n`` labelled samples, the same for the same (seed, split)."""
    gen = _Gen(seed, split)
    return [_sample(gen, f"{split}-{seed}-{i:05d}") for i in range(n)]


# --------------------------------------------------------------------------------------------
# presidio-research


# The parts of an address presidio-research labels one by one: "28245" / "Puruntie 82" / "Apt. 595"
# (STREET_ADDRESS), "LAPPEENRANTA" (GPE), "53650" (ZIP_CODE).
_ADDRESS_PARTS = frozenset({"STREET_ADDRESS", "GPE", "ZIP_CODE"})
_ADDRESS_GLUE = re.compile(r"[\s,.>]*")


def _merge_address_parts(text: str, labelled: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """One STREET_ADDRESS span per written address: runs of address parts separated only by spaces,
    line breaks, commas or quote marks become one span if the run holds a street part (our detector
    reports the whole address, city and postal code included, as one finding)."""
    out: list[tuple[str, int, int]] = []
    run: list[tuple[str, int, int]] = []

    def close() -> None:
        if any(kind == "STREET_ADDRESS" for kind, _, _ in run):
            out.append(("STREET_ADDRESS", run[0][1], max(end for _, _, end in run)))
        else:
            out.extend(run)
        run.clear()

    for kind, start, end in sorted(labelled, key=lambda s: (s[1], -s[2])):
        if kind in _ADDRESS_PARTS:
            if run and not (start >= run[-1][2] and _ADDRESS_GLUE.fullmatch(text, run[-1][2], start)):
                close()
            run.append((kind, start, end))
            continue
        close()
        out.append((kind, start, end))
    close()
    return out


def load_presidio_research(path: str | Path | None = None, *, merge_addresses: bool = True) -> list[Sample]:
    """The presidio-research synthetic set, mapped to our types; its other entity types are ignored spans.

    With ``merge_addresses`` the parts of one address (see :func:`_merge_address_parts`) are one gold span.
    """
    data = json.loads(Path(path or PRESIDIO_RESEARCH_PATH).read_text(encoding="utf-8"))
    out = []
    for i, row in enumerate(data):
        text = row["full_text"]
        spans: list[Span] = []
        ignored: list[tuple[int, int]] = []
        labelled = [(sp["entity_type"], sp["start_position"], sp["end_position"]) for sp in row["spans"]]
        if merge_addresses:
            labelled = _merge_address_parts(text, labelled)
        for kind, start, end in labelled:
            typ = PRESIDIO_RESEARCH_TYPES.get(kind)
            if typ:
                spans.append((typ, start, end))
            else:
                ignored.append((start, end))
        spans.sort(key=lambda s: s[1])
        out.append(Sample(f"presidio-{i:05d}", text, spans, ignored, source=f"template-{row.get('template_id')}"))
    return out


# --------------------------------------------------------------------------------------------
# Mixed agent traffic for the speed benchmark

_CODE_SNIPPETS = (
    "def {fn}(items: list[dict]) -> dict:\n    totals = {{}}\n    for item in items:\n"
    "        key = item.get('{field}')\n        totals[key] = totals.get(key, 0) + item['qty']\n    return totals\n",
    "async function {fn}(req, res) {{\n  const rows = await db.query('SELECT id, {field} FROM {table} LIMIT 50');\n"
    "  res.json({{ rows, count: rows.length }});\n}}\n",
    "func {fn}(ctx context.Context, id int64) (*{table_t}, error) {{\n\tvar out {table_t}\n"
    '\tif err := db.GetContext(ctx, &out, "SELECT * FROM {table} WHERE id=$1", id); err != nil {{\n'
    '\t\treturn nil, fmt.Errorf("{fn}: %w", err)\n\t}}\n\treturn &out, nil\n}}\n',
    "class {table_t}Serializer(serializers.ModelSerializer):\n    class Meta:\n        model = {table_t}\n"
    "        fields = ['id', '{field}', 'created_at']\n",
    "@@ -{n},7 +{n},9 @@ def {fn}(self):\n-        return self.{field}\n+        if self.{field} is None:\n"
    "+            raise ValueError('{field} missing')\n+        return self.{field}\n",
)


def _filler_message(g: _Gen) -> str:
    r = g.rng
    kind = r.random()
    words = {
        "fn": g.any(("load_orders", "sync_rows", "handle_event", "compute_totals", "refresh_cache", "render_page")),
        "field": g.any(("status", "region", "sku", "total", "priority", "category")),
        "table": g.any(("orders", "events", "items", "jobs")),
        "table_t": g.any(("Order", "Event", "Item", "Job")),
        "n": str(r.randint(1, 900)),
    }
    if kind < 0.25:
        call = {
            "type": "tool_use",
            "id": "toolu_" + g.chars(_ALNUM, 24),
            "name": g.any(("read_file", "search", "run_sql", "list_dir", "http_get", "grep")),
            "input": g.any(
                (
                    {"path": f"src/{g.any(_SERVICES)}/{words['fn']}.py"},
                    {"query": " ".join(g.en.words(r.randint(2, 6)))},
                    {
                        "sql": f"SELECT id, {words['field']} FROM {words['table']} "  # noqa: S608 - sample text
                        "WHERE created_at > now() - interval '1 day'"
                    },
                    {"url": f"https://docs.{_ascii(g.any(_COMPANIES))}.com/{g.any(_SERVICES)}/api", "timeout": 30},
                    {"pattern": f"def {words['fn']}", "glob": "**/*.py"},
                )
            ),
        }
        return json.dumps(call, indent=g.any((None, 2)))
    if kind < 0.5:
        lines = []
        for _ in range(r.randint(5, 40)):
            lines.append(
                f"{g.timestamp()} {g.any(('INFO', 'INFO', 'DEBUG', 'WARN'))} [{g.any(_SERVICES)}] "
                f"{g.any(('GET', 'POST', 'PUT'))} /api/v2/{words['table']}/{r.randint(1, 99999)} "
                f"{g.any((200, 200, 201, 204, 404, 500))} {r.randint(1, 2000)}ms trace={g.chars(_HEX, 32)} "
                f"span={g.chars(_HEX, 16)} ver={r.randint(1, 4)}.{r.randint(0, 20)}.{r.randint(0, 9)}"
            )
        return "\n".join(lines)
    if kind < 0.75:
        paras = []
        for _ in range(r.randint(1, 4)):
            sents = [
                g.any(_FILLER_SENTENCES) if r.random() < 0.4 else g.en.sentence(nb_words=r.randint(8, 20))
                for _ in range(r.randint(2, 7))
            ]
            paras.append(" ".join(sents))
        return "\n\n".join(paras)
    if kind < 0.92:
        return "```\n" + g.any(_CODE_SNIPPETS).format(**words) + "```"
    return json.dumps(
        {
            "role": "tool",
            "tool_use_id": "toolu_" + g.chars(_ALNUM, 24),
            "content": f"{r.randint(1, 400)} passed, {r.randint(0, 3)} failed in {r.randint(1, 90)}.{r.randint(0, 9)}s "
            f"(commit {g.chars(_HEX, 40)}, run {g.uuid()}, {g.date()})",
        }
    )


def traffic_samples(n_bytes: int, pii_fraction: float = 0.02, seed: int = DEFAULT_SEED) -> list[Sample]:
    """Messages of mixed agent traffic totalling about ``n_bytes`` UTF-8 bytes, ``pii_fraction`` of them in PII spans.

    Messages are drawn (with repetition) from pools of up to 2,000 filler messages and 600 labelled
    samples, so that 20 MB is quick to build; the engines under test keep no cache.
    """
    gen = _Gen(seed + 7, "dev")
    fillers = [_filler_message(gen) for _ in range(min(2000, 50 + n_bytes // 1500))]
    positives = [s for s in generate(min(600, 40 + n_bytes // 20_000), seed=seed + 11, split="dev") if s.spans]
    rng = random.Random(f"traffic:{seed}")
    out: list[Sample] = []
    total = pii = 0
    while total < n_bytes:
        if pii < pii_fraction * total:
            s = rng.choice(positives)
            out.append(Sample(f"traffic-{len(out)}", s.text, list(s.spans), source=s.source))
            pii += sum(len(s.text[a:b].encode()) for _, a, b in s.spans)
        else:
            out.append(Sample(f"traffic-{len(out)}", rng.choice(fillers), [], source="filler"))
        total += len(out[-1].text.encode()) + 1
    return out


def mixed_traffic(n_bytes: int, pii_fraction: float = 0.02, seed: int = DEFAULT_SEED) -> str:
    """The same traffic as one string, messages separated by newlines."""
    return "\n".join(s.text for s in traffic_samples(n_bytes, pii_fraction, seed))
