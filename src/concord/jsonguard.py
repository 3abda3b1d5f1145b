"""NUL characters in JSON input: found, and named by their path, before anything reaches the database.

PostgreSQL text cannot hold U+0000, so a NUL anywhere in a stored string ends in a database error — a 500, or a
batch half applied by the time the error surfaces. No Concord value (a name, an id, a key) has a use for one,
so every JSON door refuses it up front: the API's middleware (`api/guards.py`), the CLI's JSON-lines readers
and the ingest preparation every change passes, whichever door it came through. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

NUL = "\x00"
# How a NUL can appear in JSON text: the escape (JSON forbids a raw control character inside a string, but
# a raw byte is checked too, so a lenient parser elsewhere cannot be tricked).
_MARKERS = (b"\\u0000", b"\x00")


def _name(key: object) -> str:
    # The path is echoed back to the caller: show the NUL as its escape, never as the character itself.
    return str(key).replace(NUL, "\\u0000")


def nul_path(value: Any, prefix: str = "") -> str | None:
    """The dotted path (`changes.3.fields.Name`, list items by index) of the first string value or object key
    holding a NUL, or None. Iterative, so a deeply nested document cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if NUL in node:
                return path or "body"
        elif isinstance(node, dict):
            children = [(f"{path}.{_name(k)}" if path else _name(k), k, v) for k, v in node.items()]
            for child_path, key, _ in children:
                if NUL in str(key):
                    return child_path
            stack.extend((p, v) for p, _, v in reversed(children))
        elif isinstance(node, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in reversed(list(enumerate(node))))
    return None


def nul_json_path(body: bytes) -> str | None:
    """The path of the first NUL in a JSON document (see `nul_path`), or None. Bodies without the escape or a
    raw NUL byte — nearly all — cost one byte search and are never parsed here. A body that is not JSON is
    left to the route's own parser (its 422), unless it carries a raw NUL: then it is named `body`."""
    if not any(marker in body for marker in _MARKERS):
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "body" if b"\x00" in body else None
    return nul_path(document)
