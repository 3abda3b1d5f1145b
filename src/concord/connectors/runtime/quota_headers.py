"""Vendor rate-limit and quota headers, read through a table of rules rather than per-vendor code.

Each rule names a response header and how to read it into one field of `QuotaObservation`. Adding a vendor
means adding rows to the table; the governor only ever sees the normalised observation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

QuotaField = Literal[
    "interval_remaining",
    "interval_max",
    "interval_seconds",
    "daily_remaining",
    "daily_max",
    "daily_used",
    "retry_after",
    "reset_after",
]


class HeaderRule(BaseModel):
    """Read `header` into `target`; or, with `pattern`, read each named group into the field it names."""

    model_config = ConfigDict(frozen=True)

    header: str
    target: QuotaField | None = None
    pattern: str | None = None
    scale: float = 1.0
    kind: Literal["number", "retry_after"] = "number"


class QuotaObservation(BaseModel):
    """What one response told us about the caller's remaining allowance. `None` means 'not said'."""

    model_config = ConfigDict(frozen=True)

    interval_remaining: float | None = None
    interval_max: float | None = None
    interval_seconds: float | None = None
    daily_remaining: float | None = None
    daily_max: float | None = None
    daily_used: float | None = None
    retry_after: float | None = None
    reset_after: float | None = None

    def daily_left(self) -> int | None:
        """Daily calls left, whether the vendor reports 'remaining' or 'used of max'."""
        if self.daily_remaining is not None:
            return int(self.daily_remaining)
        if self.daily_used is not None and self.daily_max is not None:
            return max(int(self.daily_max - self.daily_used), 0)
        return None

    def is_empty(self) -> bool:
        return all(value is None for value in self.model_dump().values())


def default_header_rules() -> tuple[HeaderRule, ...]:
    """The documented headers of the systems Concord talks to, first match per field wins."""
    return (
        # HubSpot: burst window (`-Max` calls per `-Interval-Milliseconds`) and, for key/private-app auth,
        # the daily allowance. OAuth calls carry no daily headers, so absence must mean 'unknown', not zero.
        HeaderRule(header="X-HubSpot-RateLimit-Remaining", target="interval_remaining"),
        HeaderRule(header="X-HubSpot-RateLimit-Max", target="interval_max"),
        HeaderRule(
            header="X-HubSpot-RateLimit-Interval-Milliseconds", target="interval_seconds", scale=0.001
        ),
        HeaderRule(header="X-HubSpot-RateLimit-Daily-Remaining", target="daily_remaining"),
        HeaderRule(header="X-HubSpot-RateLimit-Daily", target="daily_max"),
        # Salesforce: rolling 24 h usage of the org, as used/limit.
        HeaderRule(
            header="Sforce-Limit-Info",
            pattern=r"api-usage=(?P<daily_used>\d+)\s*/\s*(?P<daily_max>\d+)",
        ),
        # Zendesk: account-wide per-minute limit; list endpoints add the IETF-draft `ratelimit-*` names.
        HeaderRule(header="X-Rate-Limit-Remaining", target="interval_remaining"),
        HeaderRule(header="X-Rate-Limit", target="interval_max"),
        HeaderRule(header="ratelimit-remaining", target="interval_remaining"),
        HeaderRule(header="ratelimit-limit", target="interval_max"),
        HeaderRule(header="ratelimit-reset", target="reset_after"),
        # RFC 9110: delta-seconds or an HTTP-date.
        HeaderRule(header="Retry-After", target="retry_after", kind="retry_after"),
    )


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP-date); None when unreadable."""
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - now, 0.0)


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _read_rule(rule: HeaderRule, raw: str, now: float) -> dict[str, float]:
    if rule.pattern is not None:
        match = re.search(rule.pattern, raw)
        if match is None:
            return {}
        groups = match.groupdict().items()
        return {name: float(text) * rule.scale for name, text in groups if text is not None}
    if rule.target is None:
        return {}
    if rule.kind == "retry_after":
        seconds = parse_retry_after(raw, now)
        return {} if seconds is None else {rule.target: seconds}
    try:
        return {rule.target: float(raw.strip()) * rule.scale}
    except ValueError:
        return {}


def parse_quota_headers(
    headers: Mapping[str, str], now: float, rules: Iterable[HeaderRule] | None = None
) -> QuotaObservation:
    """Apply `rules` (default: `default_header_rules()`) to a response's headers."""
    found: dict[str, float] = {}
    for rule in default_header_rules() if rules is None else rules:
        raw = _lookup(headers, rule.header)
        if raw is None:
            continue
        for name, value in _read_rule(rule, raw, now).items():
            found.setdefault(name, value)
    return QuotaObservation.model_validate(found)
