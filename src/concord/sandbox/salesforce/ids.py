"""Salesforce record ids: 15 case-sensitive characters plus a 3-character case-folding checksum."""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# The two characters after the key prefix name the pod; the twin's records all live on "5g".
_POD = "5g0"


def checksum(id15: str) -> str:
    """The suffix that makes an id case-insensitively unique: one character per 5-character chunk."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << pos for pos, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _SUFFIX[bits]
    return suffix


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the `number`-th record with key prefix `prefix` (e.g. 001 for Account)."""
    digits = ""
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{prefix}{_POD}{digits}"
    return id15 + checksum(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when `value` is not shaped like an id.

    An 18-character id whose suffix does not match its first 15 characters is not an id either.
    """
    if not _ID_SHAPE.match(value):
        return None
    id15 = value[:15]
    full = id15 + checksum(id15)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        return None
    return full
