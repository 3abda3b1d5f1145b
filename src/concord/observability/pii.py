"""PII masking for log lines: by key (names, emails, phones, tax ids) and by pattern in any string value.

Names cannot be recognised in free text, so they are masked by key only; emails, phone numbers and tax ids
are recognised anywhere. The patterns are deliberately narrow (international `+` phones, US `(555) 555-0100`,
EU VAT, US EIN/SSN) so ids and timestamps in log lines stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}|\(\d{3}\)\s?\d{3}-\d{4}")
_VAT_PREFIXES = "AT|BE|BG|CHE|CY|CZ|DE|DK|EE|EL|ES|EU|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|NO|PL|PT|RO|SE|SI|SK"
TAX_ID = re.compile(rf"\b(?:(?:{_VAT_PREFIXES})U?(?=[0-9A-Z]*\d{{6}})[0-9A-Z]{{8,12}}"  # EU VAT and the like
                    r"|\d{2}-\d{7}|\d{3}-\d{2}-\d{4})\b")  # US EIN, SSN
PATTERNS = (EMAIL, PHONE, TAX_ID)

# keys whose whole value is personal data (compared lower-case, also as a suffix: billing_email, Phone…)
SENSITIVE_KEYS = ("email", "phone", "mobile", "fax", "name", "first_name", "last_name", "firstname", "lastname",
                  "tax_id", "tax_ids", "vat", "ssn", "tax_identifier", "tax_identifiers", "contact")
_NOT_SENSITIVE = frozenset({"event", "logger", "logger_name", "level", "name_of_step", "subscription", "system",
                            "entity", "step", "tenant", "customer", "correlation_id", "trace_id", "span_id"})


def mask_text(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def find_pii(text: str) -> list[str]:
    """What the log test reports: every email, phone or tax id left in `text`."""
    return [m.group(0) for pattern in PATTERNS for m in pattern.finditer(text)]


def is_sensitive_key(key: str) -> bool:
    k = key.lower().replace("-", "_").split(".")[-1]
    return k not in _NOT_SENSITIVE and any(k == s or k.endswith("_" + s) for s in SENSITIVE_KEYS)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {mask_text(str(k)): MASK if is_sensitive_key(str(k)) and v is not None else mask_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))  # any other object would be rendered by its repr: mask that text too


def mask_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a structlog event dict with PII masked."""
    return {k: MASK if is_sensitive_key(k) and v is not None else mask_value(v) for k, v in event.items()}


def leaks_in(line: str) -> list[str]:
    """PII found in a rendered log line, shown masked-but-recognisable for the failure report."""
    return [f"{found[:3]}…{found[-2:]}" for found in find_pii(line)]
