"""Values named by a column rather than by the words next to them: SQL ``INSERT … VALUES`` and CSV header + row.

A bare password, AWS secret, generic key, 9-digit SSN or national phone number is only
recognisable through its name; in tabular text the name is the column header, far from the value.
These rules pair headers with values and score each value with the same checks as the
``key = value`` detectors. Also the home of :data:`STRUCTURED_RULES`, the union the scanner runs.
"""

from __future__ import annotations

import re

from pii.engine.credentials import (
    _API_KEYWORD,
    _AWS_SK_WORDS,
    _WEAK_API_WORDS,
    CREDENTIAL_RULES,
    _aws_secret_ok,
    api_key_name_ok,
    api_value_confidence,
)
from pii.engine.passwords import _PW_KEYWORD, password_name_ok, password_value_confidence
from pii.engine.rules import Prefilter, Rule, detection
from pii.engine.structured import _PHONE_KEYWORD, _SSN_KEYWORD, CONTACT_RULES, phone_number_confidence
from pii.engine.types import Detection
from pii.engine.validators import ssn_valid

_PW_NAME = re.compile(_PW_KEYWORD)
_AWS_NAME = re.compile(rf"(?ai:{_AWS_SK_WORDS})")
_API_NAME = re.compile(rf"(?ai:{_API_KEYWORD})")
_SSN_NAME = re.compile(rf"(?ai:{_SSN_KEYWORD})")
_PHONE_NAME = re.compile(rf"(?ai:{_PHONE_KEYWORD})")
_SSN_VALUE = re.compile(r"[0-9]{9}|[0-9]{3}([\- ])[0-9]{2}\1[0-9]{4}")


def classify(column: str, value: str, start: int) -> Detection | None:
    """The detection for ``value`` (at ``start``) in a column named ``column``, if the name makes it one."""
    value_end = start + len(value)
    if (pm := _PW_NAME.search(column)) and password_name_ok(column[pm.end() :]):
        confidence = password_value_confidence(
            value, quoted=True, form="assign", kv_line=True, short_key=pm.group().lower() in ("pass", "pwd", "pw")
        )
        return None if confidence is None else detection("password", start, value_end, confidence, "password.column")
    if _AWS_NAME.search(column):
        if len(value) == 40 and _aws_secret_ok(value):
            return detection("aws_key", start, value_end, 0.85, "aws_key.column")
        return None
    if (am := _API_NAME.search(column)) and api_key_name_ok(column, am.group().lower()):
        if column[am.end() :].lower() == "s":
            return None
        weak = am.group().lower().replace("-", "_").replace(" ", "_") in _WEAK_API_WORDS
        confidence = api_value_confidence(value, weak)
        return None if confidence is None else detection("api_key", start, value_end, confidence, "api_key.column")
    if _SSN_NAME.search(column):
        if _SSN_VALUE.fullmatch(value) and ssn_valid(value.replace("-", "").replace(" ", "")):
            return detection("ssn", start, value_end, 0.8, "ssn.column")
        return None
    if _PHONE_NAME.search(column):
        confidence = phone_number_confidence(value)
        return None if confidence is None else detection("phone", start, value_end, confidence, "phone.column")
    return None


# --------------------------------------------------------------------------------------------
# SQL: INSERT INTO t (c1, c2, …) VALUES ('v1', 'v2', …)

_SQL_INSERT = re.compile(
    r"(?ai:insert[ \t]{1,4}into)[ \t]{1,4}[\w.\"`\[\]]{1,128}[ \t]{0,4}\((?P<cols>[^()\n;]{1,2000})\)\s{0,8}"
    r"(?ai:values)[ \t]{0,4}\((?P<vals>(?:'(?:[^'\n]|''){0,512}'|[^'()\n;]|\([^()'\n]{0,64}\)){1,4000})"
)
_SQL_VALUE = re.compile(r"\s*(?:'(?P<q>(?:[^'\n]|''){0,512})'|(?P<bare>[^,'()\n;]*(?:\([^()'\n]{0,64}\))?))\s*(?:,|$)")


def _build_sql_insert(text: str, m: re.Match[str]) -> list[Detection]:
    out: list[Detection] = []
    pos, limit = m.start("vals"), m.end("vals")
    for column in m.group("cols").split(","):
        vm = _SQL_VALUE.match(text, pos, limit)
        if vm is None or vm.end() == pos:
            break
        if vm.group("q"):
            det = classify(column.strip().strip('"`[]'), vm.group("q"), vm.start("q"))
            if det is not None:
                out.append(det)
        pos = vm.end()
    return out


SQL_INSERT_RULE = Rule(
    name="keyed.sql_insert",
    types=("password", "aws_key", "api_key", "ssn", "phone"),
    regex=_SQL_INSERT,
    build=_build_sql_insert,
    prefilters=(Prefilter(r"insert[ \t]{1,4}into", before=16, after=128 + 2008 + 4000 * 520, caseless=True),),
    reach=128 + 2020 + 4000 * 520,
    anchor=re.compile(r"insert"),
)

# --------------------------------------------------------------------------------------------
# CSV: a header line naming a sensitive column, then one data line

_NAME_WORDS = rf"(?:{_PW_KEYWORD}|(?ai:{_AWS_SK_WORDS}|{_API_KEYWORD}|{_SSN_KEYWORD}|{_PHONE_KEYWORD}))"
# From a line start: some header cell (the first, or one after a comma) names a sensitive column.
_CSV = re.compile(
    r"(?m:^)(?=(?:[^\n]{0,2000}?,)?[ \t]{0,3}\"?[A-Za-z0-9_.\-]{0,40}?"
    rf"{_NAME_WORDS}[A-Za-z0-9_.\-]{{0,40}}\"?[ \t]{{0,3}}[,\n])"
    r"(?P<header>[^\n]{1,2000})\n(?P<row>[^\n]{1,8000})"
)
_CSV_NAME_OK = re.compile(r"[A-Za-z0-9_ .#/\-]{1,80}")
_CSV_HEAD = re.compile(r"[ \t]*\"?(?P<name>[^,\"\n]{0,80})\"?[ \t]*(?:,|$)")
_CSV_VALUE = re.compile(r"[ \t]*(?:\"(?P<q>(?:[^\"\n]|\"\"){0,1024})\"|(?P<bare>[^,\"\n]{0,1024}))[ \t]*(?:,|$)")


def _build_csv(text: str, m: re.Match[str]) -> list[Detection]:
    header = m.group("header")
    if header.count(",") < 1 or m.group("row").count(",") < 1:
        return []
    names = [hm.group("name").strip() for hm in _CSV_HEAD.finditer(header) if hm.end() > hm.start()]
    if not all(_CSV_NAME_OK.fullmatch(name) for name in names):
        return []  # not a header row: SQL, code or prose with commas
    out: list[Detection] = []
    pos, limit = m.start("row"), m.end("row")
    for name in names:
        vm = _CSV_VALUE.match(text, pos, limit)
        if vm is None:
            break
        group = "q" if vm.group("q") is not None else "bare"
        value = vm.group(group)
        if value:
            det = classify(name, value, vm.start(group))
            if det is not None:
                out.append(det)
        if vm.end() == pos or vm.end() >= limit:
            break
        pos = vm.end()
    return out


_CSV_PREFILTER_WORDS = (
    r"pass|pwd|kennwort|wachtwoord|senha|contrase|secret|api|token|key|authorization|bearer|ssn|social"
    r"|soc[\s_.\-]{0,2}sec|ss[\s_\-]?(?:#|no|num)|phone|tel|mobile|cell|call|fax|sms|whatsapp|voicemail|hotline|contact"
)
CSV_RULE = Rule(
    name="keyed.csv",
    types=("password", "aws_key", "api_key", "ssn", "phone"),
    regex=_CSV,
    build=_build_csv,
    # A header cell containing one of the words, comma-delimited on at least one side.
    prefilters=(
        Prefilter(
            rf"(?:^|[,\n])[ \t]*\"?[A-Za-z0-9_.\-]*(?:{_CSV_PREFILTER_WORDS})[A-Za-z0-9_.\-]*\"?[ \t]*(?:,|\n|$)",
            before=2002,
            after=2002 + 8002,
            caseless=True,
        ),
    ),
    reach=2000 + 8002,
    anchor=re.compile(r"(?m:^)"),
)

KEYED_RULES: tuple[Rule, ...] = (SQL_INSERT_RULE, CSV_RULE)

# Everything the scanner runs besides the person-name and street-address detectors.
STRUCTURED_RULES: tuple[Rule, ...] = CONTACT_RULES + CREDENTIAL_RULES + KEYED_RULES
