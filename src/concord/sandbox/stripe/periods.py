"""Billing period arithmetic: Stripe anchors monthly and yearly periods on the calendar, clamping day 31."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta


def add_interval(timestamp: int, interval: str, count: int) -> int:
    start = datetime.fromtimestamp(timestamp, UTC)
    if interval == "day":
        return int((start + timedelta(days=count)).timestamp())
    if interval == "week":
        return int((start + timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def remaining_fraction(start: int, end: int, now: int) -> float:
    """Share of the period still ahead at `now`, what Stripe prorates by (to the second)."""
    if end <= start:
        return 0.0
    return min(max((end - now) / (end - start), 0.0), 1.0)
