"""Behaviour of the structured PII detectors, overlap resolution and the two scan engines (pii.engine)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import pii.engine
from pii.engine import TYPES, Detection, ScanError, Scanner, scan
from pii.engine.resolve import resolve
from pii.engine.scanner import default_scanner

# Person names and street addresses have their own tests; these cover the twelve structured types.
STRUCTURED = [t for t in TYPES if t not in ("person_name", "street_address")]


@pytest.fixture(scope="module")
def hs() -> Scanner:
    return Scanner("hyperscan", types=STRUCTURED)


@pytest.fixture(scope="module")
def rx() -> Scanner:
    return Scanner("re", types=STRUCTURED)


def found(scanner: Scanner, text: str) -> list[tuple[str, str]]:
    return [(d.type, text[d.start : d.end]) for d in scanner.scan(text)]


def only(scanner: Scanner, text: str, typ: str) -> Detection:
    dets = [d for d in scanner.scan(text) if d.type == typ]
    assert len(dets) == 1, (text, dets)
    return dets[0]


# --------------------------------------------------------------------------------------------
# Positives and hard negatives, type by type

POSITIVES: list[tuple[str, str, str]] = [
    # (type, text, the exact value expected)
    ("email", "Reach me at jane.doe+billing@mail.example.co.uk.", "jane.doe+billing@mail.example.co.uk"),
    ("email", '{"contact_email": "Ola.Nordmann@firma.no"}', "Ola.Nordmann@firma.no"),
    ("ssn", "SSN: 219-45-6789 on file", "219-45-6789"),
    ("ssn", "social security number 536 22 8763 was read out", "536 22 8763"),
    ("ssn", '"ssn": "536228763"', "536228763"),
    ("credit_card", "Charge the card 4111 1111 1111 1111, exp 04/27.", "4111 1111 1111 1111"),
    ("credit_card", "pan=5500-0055-5555-5559", "5500-0055-5555-5559"),
    ("credit_card", "Amex 3782 822463 10005 declined", "3782 822463 10005"),
    ("credit_card", '{"cardNumber": "6011000990139424"}', "6011000990139424"),
    ("api_key", "STRIPE_SECRET_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("api_key", "slack: xoxb-2401398723-2409834710293-Fq8sLk2JdO9aPq3LmZx7VbNc", None),
    ("api_key", "key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    ("api_key", "OPENAI_API_KEY=sk-proj-Qw3rTy7uIoP9aSdF4gHjK2lZxCvBnM8qWeRtYuIoPaSd", None),
    ("api_key", "anthropic sk-ant-api03-Xq9vL2mN8bC4dF7gH1jK5pR3sT6wY0zA2cE4gI6kM8oQ-AA ok", None),
    ("api_key", "SENDGRID=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", None),
    ("api_key", '"apiKey": "a8F3kL9qZ2xW7mN4pR6tY1uV5sB0cD3e"', "a8F3kL9qZ2xW7mN4pR6tY1uV5sB0cD3e"),
    ("api_key", "Authorization: Bearer 9fK2LmQ8xZ3vR7tN1wP5yS0bC4dG6hJ", "9fK2LmQ8xZ3vR7tN1wP5yS0bC4dG6hJ"),
    ("api_key", "TWILIO_API_KEY=SK0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef"),
    (
        "api_key",
        "GET /geocode/json?address=Main+St&key=pJpoZ43DDKQETBPyLFIWKOs8hOWUFl9FI1N",
        "pJpoZ43DDKQETBPyLFIWKOs8hOWUFl9FI1N",
    ),
    ("api_key", "I rotated our API key; the new value is mMnoGLnRXs2s2yVgaYu2Oel1r77jWByh", None),
    ("api_key", "Found our API key hardcoded in the repo: YeDYhjcsUnllZIyWUcAtxeTyaIarkHAJAaJhLewVlihPkOd", None),
    (
        "api_key",
        "Can you verify IEeLGX6rcWxj7mOkRN8w4hpXzmd4jsj8gdM? That's our API key.",
        "IEeLGX6rcWxj7mOkRN8w4hpXzmd4jsj8gdM",
    ),
    ("api_key", "Paste toFtuU1LnOFfLfUUtoBNp0QM8qe9n8HWfGrsRgS into the integration settings.", None),
    ("api_key", "Paste 4502244154c49dc0136d4f9b81a88a85 into the integration settings.", None),
    (
        "aws_key",
        "Can you verify aKCn/jdRmzOY4TlPZLrDXSXazdQDJ/B0oxxkonSH? That's my AWS secret key.",
        "aKCn/jdRmzOY4TlPZLrDXSXazdQDJ/B0oxxkonSH",
    ),
    (
        "jwt",
        "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U.",
        None,
    ),
    ("aws_key", "aws_access_key_id = AKIAZ3MXQ7B2RT5KLW4Q", "AKIAZ3MXQ7B2RT5KLW4Q"),
    (
        "aws_key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("phone", "Call me at +1 (415) 555-0132 tonight", "+1 (415) 555-0132"),
    ("phone", "office: 212-555-0187", "212-555-0187"),
    ("phone", "(555) 123 4567 is the desk", "(555) 123 4567"),
    ("phone", "fax 555.123.4567", "555.123.4567"),
    ("phone", "London +44 20 7946 0958 or Berlin", "+44 20 7946 0958"),
    ("phone", "Berlin +49 30 1234567.", "+49 30 1234567"),
    ("phone", "mobile: 0176 12345678", "0176 12345678"),
    ("ip_address", "Connection refused from 203.0.113.42:443", "203.0.113.42"),
    ("ip_address", "client_ip=10.12.0.7", "10.12.0.7"),
    ("ip_address", "peer 2001:db8:85a3::8a2e:370:7334 closed", "2001:db8:85a3::8a2e:370:7334"),
    ("ip_address", "fe80::1ff:fe23:4567:890a%eth0 link", "fe80::1ff:fe23:4567:890a%eth0"),
    ("password", "password=Tr0ub4dor&3 user=admin", "Tr0ub4dor&3"),
    ("password", '{"password": "correct horse battery staple"}', "correct horse battery staple"),
    ("password", "export PGPASSWORD='s3cr3t!Pg'", "s3cr3t!Pg"),
    ("password", "db_pass: Hunter-2019", "Hunter-2019"),
    ("password", "My password is Summer2024!", "Summer2024!"),
    ("password", "The password for the staging box is Xk9#mP2q, rotate it.", "Xk9#mP2q"),
    ("password", "mi contraseña es Gato2024! ok", "Gato2024!"),
    ("password", "mein Passwort ist Hund#77 und", "Hund#77"),
    ("password", "<password>p4ss.W0rd</password>", "p4ss.W0rd"),
    ("password", "INSERT INTO users (email, pwd)\nVALUES ('a@b.io', 'Spring2021!');", "Spring2021!"),
    ("password", "CREATE USER app IDENTIFIED BY 'Xy7#kLm9';", "Xy7#kLm9"),
    ("private_key", None, None),  # built below: a whole PEM block
    ("database_url", "DATABASE_URL=postgres://app:s3cretPw@db-1.internal:5432/orders.", None),
    ("database_url", "redis://:UqVAHAUxIf6ric@cache-2.internal:6379/14", None),
    ("database_url", "mongodb+srv://svc:r-vfCiA~g46@cluster9.jq3ok.mongodb.net/app?retryWrites=true", None),
    ("github_token", "GH_TOKEN=ghp_R7dT3kLq9ZxW2mN8pV4sB6yC1fH5jG0aE2uI", "ghp_R7dT3kLq9ZxW2mN8pV4sB6yC1fH5jG0aE2uI"),
    ("github_token", "github_pat_11ABCDEFG0" + "aB3dE5fG7h" * 8 + "xyz", None),
]

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEArBRZsXAKTNI3lGti0u6N85bxSPD8jf/8LCcd7zAmA0nEYtX0\n"
    "1qXu3foCLqthuscQgIei/vBnLOnMB69AWGmpBAp8Un5lG4/fYgRlkx8eX9apHM3i\n"
    "Yjx43lklb1RQ8mFPsatTbXP/ZDmtFqjmi8lzQroQq2jJk7DSNg+9CP1xFWHtGC/G\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(("typ", "text", "value"), [p for p in POSITIVES if p[1]])
def test_positive(hs: Scanner, typ: str, text: str, value: str | None) -> None:
    det = only(hs, text, typ)
    got = text[det.start : det.end]
    if value is None:  # the value is the whole token starting at its prefix
        assert got.split()[0] == got and got in text and len(got) >= 20, got
    else:
        assert got == value
    assert 0.5 <= det.confidence <= 1.0
    assert det.detector.startswith(typ.split("_")[0])


def test_positive_whole_urls_and_tokens(hs: Scanner) -> None:
    text = "DATABASE_URL=postgres://app:s3cretPw@db-1.internal:5432/orders."
    assert found(hs, text) == [("database_url", "postgres://app:s3cretPw@db-1.internal:5432/orders")]
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert found(hs, f"Authorization: Bearer {jwt}\n") == [("jwt", jwt)]
    slack = "xoxb-2401398723-2409834710293-Fq8sLk2JdO9aPq3LmZx7VbNc"
    assert found(hs, f"slack: {slack}") == [("api_key", slack)]


@pytest.mark.parametrize("wrapper", ["{}", "key: |\n  {}", '"pem": "{}"'])
def test_private_key_block_is_one_detection(hs: Scanner, wrapper: str) -> None:
    pem = PEM.replace("\n", "\\n") if wrapper.startswith('"') else PEM.replace("\n", "\n  " if "|" in wrapper else "\n")
    text = "deploy key follows " + wrapper.format(pem) + " end"
    dets = hs.scan(text)
    assert [(d.type, text[d.start : d.end]) for d in dets] == [("private_key", pem)]
    assert dets[0].confidence >= 0.95


def test_truncated_private_key_is_still_reported(hs: Scanner) -> None:
    text = PEM.rsplit("-----END", 1)[0].rstrip() + "\n[output truncated]"
    det = only(hs, text, "private_key")
    assert text[det.start : det.end] == PEM.rsplit("\n-----END", 1)[0]
    assert det.detector == "private_key.truncated"


NEGATIVES: list[str] = [
    # public material
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
    "-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQo8/abcdefghijklmnopqrstuvwxyz0123456789ABCD\n"
    "-----END CERTIFICATE-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3Jv8ZXUbbA2mVtqOhdAc7ZGuT7OYv4hQ2nY7F0fVfG deploy@ci",
    "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    # URLs without credentials
    "DATABASE_URL=postgres://db.internal:5432/orders",
    "redis://localhost:6379/0 and mongodb+srv://cluster0.ab12c.mongodb.net/app",
    "DATABASE_URL=${DATABASE_URL:-postgres://localhost/dev}",
    "postgres://user:${DB_PASSWORD}@db:5432/app",
    # ids, hashes, versions
    "request_id=550e8400-e29b-41d4-a716-446655440000",
    "digest: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "api_key_sha256 = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "md5 d41d8cd98f00b204e9800998ecf8427e, commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    '"etag": "d41d8cd98f00b204e9800998ecf8427e", "checksum": "9fceb02d0ae598e95dc970b74767f19372d61af8"',
    "Upgraded to version 1.2.3.4 (v10.0.0.1) on Chrome/120.0.0.0 Safari/537.36",
    "Windows 10.0.19045.3803 build; release 2.4.1-rc.1; 1.2.3",
    "OID 1.3.6.1.4.1.311.21.7 and extension 2.5.29.17",
    "10.0.0.0.1 and 999.1.1.1 and 1.2.3",
    # numbers that are not cards, SSNs or phones
    "Order #4532015112830368 shipped; invoice 1234567812345678",
    "SSNs 078-05-1120, 000-12-3456, 666-12-3456, 123-00-4567, 123-45-0000, 900-12-3456",
    "Created 2024-01-15 at 12/25/2023 10:30:45, due 2023.10.12",
    "ts=1712345678 expires_at=1712345678123 latency_ms=1234",
    "GET /api/v2/orders/12345 200 1234ms trace=9c885e45d2082602133869c69a3b1f2e",
    "count 12,345 amount 9999.99 port 8443 pid 31337 error 0xdeadbeef color #ff8800",
    "isbn 978-3-16-148410-0, part no. 000-05-8430, ref 978-18-7196",
    # emails that are not
    "a@a@a@a@a icon@2x.png lib@1.2.3 git@github.com:org/repo.git @decorator.name",
    # placeholders and code
    "password: ********",
    "password=<password> pwd: ${DB_PASSWORD} pass = {{ vault_db_password }}",
    'password = os.environ["DB_PASSWORD"]',
    "def login(user: str, password: str) -> bool:",
    "if user.check_password(form.password.data):",
    "The password is incorrect. Your password is required. Forgot your password? Reset it.",
    "password_hash and api_key_id are indexed columns; PASSWORD_FILE=/run/secrets/db",
    "api_key = settings.STRIPE_SECRET_KEY",
    # keys only by their context: a name, a query parameter, "paste … into the settings"
    "The API key is documented in ThisIsTheLongDescriptiveConfigurationName for everyone.",
    "GET /search?q=mailbox&key=short1 and /items?monkey=pJpoZ43DDKQETBPyLFIWKOs8hOWUFl9FI1N",
    "Paste 550e8400-e29b-41d4-a716-446655440000 into the integration settings.",
    "Paste the-release-notes-for-version-two-point-one into the wiki settings page.",
    "Put 4502244154c49 in the config.",
    "const apiKey = process.env.OPENAI_API_KEY;",
    "token = jwt.encode(payload, signing_key, algorithm='RS256')",
    "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    "AKIAXXXXXXXXXXXXXXXX sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ghp_<token> YOUR_API_KEY_HERE",
    '"max_tokens": 4096, "prompt_tokens": 1234, "next_page_token": "CAESBggBEAEYAiIDMTIz"',
    "avatar: data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA"
    "AABJRU5ErkJggg==",
    "std::vector<int> a::b 12:34:56 00:1a:2b:3c:4d:5e",
    "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln is not a JWT",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negative(hs: Scanner, text: str) -> None:
    assert [d for d in hs.scan(text) if d.confidence >= 0.5] == [], found(hs, text)


def test_order_number_failing_luhn_is_not_a_card(hs: Scanner) -> None:
    assert found(hs, "card 4111 1111 1111 1112") == []
    assert found(hs, "card 4111 1111 1111 1111") == [("credit_card", "4111 1111 1111 1111")]


def test_bare_nine_digits_need_ssn_context(hs: Scanner) -> None:
    assert found(hs, "ref 536228763") == []
    assert found(hs, "SSN# 536228763") == [("ssn", "536228763")]


def test_plain_long_numbers_need_phone_context(hs: Scanner) -> None:
    assert found(hs, "id 4155550132 and 02071234567") == []
    assert found(hs, "my cell is 4155550132") == [("phone", "4155550132")]


def test_aws_secret_needs_context(hs: Scanner) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert found(hs, f"blob {secret}") == []
    assert found(hs, f"the secret access key {secret}") == [("aws_key", secret)]


def test_changeme_is_a_weak_password_not_a_placeholder(hs: Scanner) -> None:
    det = only(hs, "password=changeme", "password")
    assert 0.2 <= det.confidence < 0.5  # reported, but below the default policy threshold of 0.5


# --------------------------------------------------------------------------------------------
# Spans with non-ASCII text before the match (Hyperscan sees bytes, results are str offsets)


@pytest.mark.parametrize(
    "prefix", ["", "😀 ", "Zoë écrit à ", "日本語のテキスト、", "\ud800 lone surrogate ", "e\u0301" * 5]
)
def test_spans_are_str_offsets_after_non_ascii(hs: Scanner, rx: Scanner, prefix: str) -> None:
    text = (
        f"{prefix}mail zoe@example.fr, ssn 219-45-6789, card 4111-1111-1111-1111 😀 "
        f"ip 203.0.113.42, key AKIAZ3MXQ7B2RT5KLW4Q, pw: Zoë#2024x\n"
    )
    expected = [
        ("email", "zoe@example.fr"),
        ("ssn", "219-45-6789"),
        ("credit_card", "4111-1111-1111-1111"),
        ("ip_address", "203.0.113.42"),
        ("aws_key", "AKIAZ3MXQ7B2RT5KLW4Q"),
        ("password", "Zoë#2024x"),
    ]
    assert found(hs, text) == expected
    assert hs.scan(text) == rx.scan(text)
    for det in hs.scan(text):
        assert det.start >= len(prefix)


# --------------------------------------------------------------------------------------------
# Overlap resolution


def test_password_inside_database_url_is_one_detection(hs: Scanner) -> None:
    text = "DATABASE_URL=postgresql://admin:p4ss.W0rd-9@10.0.0.5:5432/app?sslmode=require"
    candidates = {d.type for d in hs.candidates(text)}
    assert {"database_url", "ip_address"} <= candidates  # the IP (and a userinfo password) are also candidates
    assert found(hs, text) == [("database_url", text.split("=", 1)[1])]


def test_pem_block_swallows_whatever_its_body_looks_like(hs: Scanner) -> None:
    body = "MIIEowIBAAKCAQEArBRZsXAKTNI3lGti0u6N85bxSPD8jf/8LCcd7zAmA0nEYtX0\n"
    headers = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n"
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{headers}{body}4111111111111111\n{body}-----END RSA PRIVATE KEY-----"
    assert "credit_card" in {d.type for d in hs.candidates(text)}  # a base64 line that passes Luhn
    assert [(d.type, d.start, d.end) for d in hs.scan(text)] == [("private_key", 0, len(text))]


def test_resolution_rules() -> None:
    url = Detection("database_url", 0, 60, 0.7, "database_url.credentials")
    pw = Detection("password", 20, 30, 0.9, "password.url")
    email = Detection("email", 25, 45, 0.95, "email.regex")
    phone = Detection("phone", 70, 82, 0.6, "phone.nanp")
    phone_ctx = Detection("phone", 70, 82, 0.8, "phone.context")
    card = Detection("credit_card", 75, 95, 0.9, "credit_card.luhn")
    later = Detection("ssn", 100, 111, 0.9, "ssn.format")
    out = resolve([later, card, phone, phone_ctx, email, pw, url])
    # The container wins over what it contains whatever the confidences; same span and type keeps the
    # more confident; otherwise the more specific/confident one wins. Output is sorted and disjoint.
    assert out == [url, card, later]
    assert resolve([phone, phone_ctx]) == [phone_ctx]
    assert resolve(list(reversed([later, card, phone, email, pw, url]))) == [url, card, later]


def test_resolution_is_deterministic_for_ties() -> None:
    a = Detection("api_key", 10, 30, 0.8, "api_key.context")
    b = Detection("password", 10, 30, 0.8, "password.context")
    c = Detection("api_key", 15, 40, 0.8, "api_key.context")
    assert resolve([a, b, c]) == resolve([c, b, a]) == [c]  # equal rank and confidence: the longer span


# --------------------------------------------------------------------------------------------
# Confidence moves with context


def conf(scanner: Scanner, text: str, typ: str) -> float:
    return only(scanner, text, typ).confidence


def test_confidence_moves_with_context(hs: Scanner) -> None:
    assert conf(hs, "Visa card 4111 1111 1111 1111", "credit_card") > conf(hs, "x 4111 1111 1111 1111", "credit_card")
    assert (
        conf(hs, "SSN: 219-45-6789", "ssn")
        > conf(hs, "value 219-45-6789", "ssn")
        > conf(hs, "claim 219-45-6789", "ssn")
    )
    assert (
        conf(hs, "call me at 212-555-0187", "phone")
        > conf(hs, "x 212-555-0187", "phone")
        > conf(hs, "ticket 212-555-0187", "phone")
    )
    assert conf(hs, "client ip 203.0.113.9", "ip_address") > conf(hs, "x 203.0.113.9", "ip_address")
    assert conf(hs, "x 203.0.113.9", "ip_address") > conf(hs, "x 127.0.0.1", "ip_address")
    assert conf(hs, "twilio api key SK0123456789abcdef0123456789abcdef", "api_key") > conf(
        hs, "x SK0123456789abcdef0123456789abcdef", "api_key"
    )
    # A value that reads like a chosen secret is likelier a password than a plain word.
    assert conf(hs, "the wifi password is Tr0ub4dor&3", "password") > conf(
        hs, "the wifi password is swordfish", "password"
    )
    # Generic "token" is weaker evidence than "api_key".
    assert conf(hs, "api_key=a8F3kL9qZ2xW7mN4pR6tY1uV", "api_key") > conf(
        hs, "token=a8F3kL9qZ2xW7mN4pR6tY1uV", "api_key"
    )


def test_confidence_of_structure_validated_secrets(hs: Scanner) -> None:
    header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}
    payload = "eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    assert conf(hs, f"t {header}.{payload}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt") >= 0.95
    assert conf(hs, f"t {header}.{payload}.", "jwt") < 0.8  # signed algorithm but no signature
    crc_ok = "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"  # 30 random characters + their base62 CRC32
    no_crc = "ghp_R7dT3kLq9ZxW2mN8pV4sB6yC1fH5jGzzzzzz"
    assert conf(hs, crc_ok, "github_token") > conf(hs, no_crc, "github_token")


# --------------------------------------------------------------------------------------------
# Hyperscan and pure-re engines agree

_FRAGMENTS = [v for _, t, v in POSITIVES if t and v] + [t for _, t, _ in POSITIVES if t] + NEGATIVES
_FRAGMENTS += [PEM, PEM.replace("\n", "\\n"), "-----BEGIN EC PRIVATE KEY-----\nAAAA", "password", "pass", "pw:", "="]
_FRAGMENTS += ["@", "+1", "+", "(", ")", "::", ":", ".", "-", "4111", "555", "1234", "eyJ", "sk-", "ghp_", "AKIA"]
_NOISE = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    ", ",
    "; ",
    '"',
    "'",
    "é",
    "😀",
    "\u0130",
    "\u017f",
    "\u212a",
    "\ud800",
    "ü",
    "\x00",
    "|",
]


def _generated(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 6))]
        text = "".join(p + rng.choice(_NOISE) for p in parts)
        for _ in range(rng.randint(0, 3)):  # local mutations that move boundaries around
            k = rng.randrange(len(text) + 1)
            if rng.random() < 0.5:
                text = text[:k] + rng.choice([*_NOISE, "0", "a", "Z", "_", "/", "="]) + text[k:]
            else:
                text = text[:k] + text[k + rng.randint(1, 3) :]
        if rng.random() < 0.1:
            text = text * rng.randint(2, 20)  # repeats stress window merging
        out.append(text)
    return out


def test_engines_agree_on_generated_text(hs: Scanner, rx: Scanner) -> None:
    mismatches = []
    for text in _generated(3000, seed=20240611):
        a = sorted(hs.candidates(text), key=repr)
        b = sorted(rx.candidates(text), key=repr)
        if a != b:
            mismatches.append((text, set(a) ^ set(b)))
    assert mismatches == []


def test_engines_agree_on_long_mixed_text(hs: Scanner, rx: Scanner) -> None:
    text = "\n".join(_generated(400, seed=7))
    assert hs.scan(text) == rx.scan(text)
    assert len(hs.scan(text)) > 100


# --------------------------------------------------------------------------------------------
# Limits and pathological input


def test_oversize_input_raises_scan_error() -> None:
    scanner = Scanner(types=STRUCTURED, max_chars=1000)
    assert scanner.scan("a" * 1000) == []
    with pytest.raises(ScanError) as exc:
        scanner.scan("a" * 1001)
    assert exc.value.code == "TOO_LARGE"


def test_default_limit_is_16_mebi_characters() -> None:
    assert Scanner(types=STRUCTURED).max_chars == 16 * 1024 * 1024


def test_non_text_input_raises_scan_error(hs: Scanner) -> None:
    with pytest.raises(ScanError) as exc:
        hs.scan(b"password=x")  # type: ignore[arg-type]
    assert exc.value.code == "NOT_TEXT"


def test_constructor_validates_arguments() -> None:
    with pytest.raises(ValueError, match="engine"):
        Scanner("pcre")
    with pytest.raises(ValueError, match="unknown PII types"):
        Scanner(types=["email", "shoe_size"])


def test_types_restrict_detection() -> None:
    text = "mail zoe@example.fr ssn 219-45-6789"
    assert [d.type for d in Scanner(types=["ssn"]).scan(text)] == ["ssn"]


def _random(alphabet: str, n: int, seed: int) -> str:
    return "".join(random.Random(seed).choices(alphabet, k=n))


PATHOLOGICAL: dict[str, Callable[[], str]] = {
    "digits": lambda: "7" * 2_000_000,
    "random_digits": lambda: _random("0123456789 -", 500_000, 1),
    "grouped_digits": lambda: "4111 " * 200_000,
    "at_signs": lambda: "a@" * 1_000_000,
    "at_domains": lambda: "a@a.co" * 150_000,
    "pem_headers": lambda: "-----BEGIN RSA PRIVATE KEY-----" * 40_000,
    "dashes_begin": lambda: "----BEGIN" * 200_000,
    "pem_unterminated": lambda: "-----BEGIN PRIVATE KEY-----\n" + "QUFB" * 300_000,
    "base64": lambda: _random("ABCDEFabcdef0123456789+/", 1_000_000, 2),
    "keywords": lambda: "password: token= api_key ssn phone " * 20_000,
    "colons": lambda: "1:" * 300_000,
    "dots": lambda: "1." * 300_000,
    "jwt_heads": lambda: "eyJhbGciOiJIUzI1NiJ9." * 50_000,
    "sql": lambda: "INSERT INTO t (password, a) VALUES ('" * 20_000,
    "csv": lambda: "password,token,ssn\n" * 20_000,
    "urls": lambda: "postgres://u:p@" * 50_000,
    "surrogates": lambda: "\ud800\udfff" * 300_000,
    "dense_pii": lambda: "😀 john@example.com 555-123-4567 " * 10_000,
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_finishes(hs: Scanner, name: str) -> None:
    text = PATHOLOGICAL[name]()
    dets = hs.scan(text)
    assert all(0 <= d.start < d.end <= len(text) for d in dets)
    assert all(a.end <= b.start for a, b in itertools.pairwise(dets))
    if name == "dense_pii":
        assert len(dets) == 20_000
    elif name in ("digits", "at_signs", "dashes_begin", "base64", "colons", "dots", "pem_headers"):
        assert dets == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["digits", "at_signs", "pem_headers", "keywords", "urls", "csv"])
def test_pathological_input_finishes_without_hyperscan(rx: Scanner, name: str) -> None:
    text = PATHOLOGICAL[name]()[:200_000]
    assert rx.scan(text) == Scanner("hyperscan", types=STRUCTURED).scan(text)


@pytest.mark.timeout(20)
def test_ten_megabyte_input(hs: Scanner) -> None:
    text = ("x" * 1000 + " card 4111 1111 1111 1111\n") * 10_000
    assert len(text) > 10_000_000
    assert len(hs.scan(text)) == 10_000


def test_concurrent_scans_from_threads(hs: Scanner) -> None:
    text = "\n".join(_generated(200, seed=3))
    expected = hs.scan(text)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(hs.scan, [text] * 12))
    assert all(r == expected for r in results)


# --------------------------------------------------------------------------------------------
# Module API


def test_module_level_scan_uses_one_shared_scanner() -> None:
    assert pii.engine.scan is scan
    assert default_scanner() is default_scanner()
    text = "write to zoe@example.fr"
    assert ("email", "zoe@example.fr") in [(d.type, text[d.start : d.end]) for d in scan(text)]
