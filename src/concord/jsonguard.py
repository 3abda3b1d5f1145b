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


def _dotted(path: tuple[object, ...]) -> str:
    # The path is echoed back to the caller: show a NUL as its escape, never as the character itself.
    return ".".join(str(part).replace(NUL, "\\u0000") for part in path)


def nul_path(value: Any, prefix: str = "") -> str | None:
    """The dotted path (`changes.3.fields.Name`, list items by index) of a string value or object key holding a
    NUL, or None; within one object or list the first in order, before anything nested in it. Iterative, so a
    deeply nested document cannot exhaust the stack; paths are built for containers only."""
    root: tuple[object, ...] = (prefix,) if prefix else ()
    if isinstance(value, str):
        return (_dotted(root) or "body") if NUL in value else None
    if not isinstance(value, dict | list | tuple):
        return None
    stack: list[tuple[Any, tuple[object, ...]]] = [(value, root)]
    while stack:
        node, path = stack.pop()
        nested: list[tuple[Any, tuple[object, ...]]] = []
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in pairs:
            if (isinstance(key, str) and NUL in key) or (isinstance(child, str) and NUL in child):
                return _dotted((*path, key))
            if isinstance(child, dict | list | tuple):
                nested.append((child, (*path, key)))
        stack.extend(reversed(nested))
    return None


def holds_nul(body: bytes) -> bool:
    """Whether JSON text can decode to a NUL: a raw NUL byte, or a `\\u0000` escape whose backslash is not itself
    escaped (`\\\\u0000` is a backslash followed by "u0000": ordinary text). A byte scan, no parsing."""
    if b"\x00" in body:
        return True
    start = body.find(b"\\u0000")
    while start != -1:
        before = start
        while before > 0 and body[before - 1] == 0x5C:  # backslashes right before this one
            before -= 1
        if (start - before) % 2 == 0:  # an even run escapes itself: this backslash starts an escape
            return True
        start = body.find(b"\\u0000", start + 1)
    return False


def nul_json_path(body: bytes) -> str | None:
    """The path of a NUL in a JSON document (see `nul_path`), or None. Bodies that cannot hold one — nearly
    all, including text that only looks like an escape — cost a byte scan and are never parsed here. A body
    that holds one but is not JSON is named `body` (it is refused either way)."""
    if not holds_nul(body):
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "body"
    return nul_path(document) or "body"
