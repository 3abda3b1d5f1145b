"""Instants the way HubSpot writes and reads them: ISO-8601 UTC with milliseconds, or epoch millis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_from_ms(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def date_from_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d")


def ms_from_text(text: str) -> int | None:
    """Epoch milliseconds from what HubSpot accepts for date properties and date filters.

    Both epoch millis ("1700000000000") and ISO-8601 ("2024-01-31", "2024-01-31T10:00:00Z",
    "2024-01-31T10:00:00.123+02:00") are accepted; naive times are read as UTC.
    """
    cleaned = text.strip()
    if cleaned.lstrip("-").isdigit():
        return int(cleaned)
    try:
        parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)
