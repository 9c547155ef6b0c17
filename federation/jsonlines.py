"""`{"id", "text"}` items in, one result per item out: the contract of the scanning commands
(`federation pii scan`, `federation defence scan`) and of their REST twins. A bad item or line gets
an error object (with its id when it has one); the others carry on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

MAX_TEXT_CHARS = 16 * 1024 * 1024

Result = dict[str, Any]


def error(item_id: Any, code: str, message: str) -> Result:
    return {"id": item_id, "error": {"code": code, "message": message}}


def id_of(item: Any) -> Any:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def text_of(item: Any) -> tuple[Any, str] | Result:
    """``(id, text)`` of a well-formed item, or the error result for a bad one."""
    item_id = id_of(item)
    if not isinstance(item, dict):
        return error(None, "SCHEMA_INVALID", "each item is a JSON object with an id and a text")
    text = item.get("text")
    if not isinstance(text, str):
        return error(item_id, "SCHEMA_INVALID", '"text" must be a string')
    if len(text) > MAX_TEXT_CHARS:
        return error(item_id, "TOO_LARGE", f"the text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return item_id, text


def handle_line(raw: bytes, handle_item: Callable[[Any], Result]) -> Result | None:
    """One line of JSON lines input; None for a blank line (nothing to answer)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error(None, "INVALID_UTF8", f"the line is not UTF-8 (byte {exc.start})")
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return error(None, "MALFORMED_JSON", f"not JSON: {str(exc)[:200]}")
    return handle_item(item)


def handle_lines(lines: Iterable[bytes], handle_item: Callable[[Any], Result]) -> Iterator[Result]:
    for raw in lines:
        result = handle_line(raw, handle_item)
        if result is not None:
            yield result
