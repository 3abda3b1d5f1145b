"""Zendesk's list pagination (cursor and offset) and incremental exports (time-based and cursor-based)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from starlette.datastructures import URL, QueryParams

from concord.sandbox.zendesk.errors import invalid_pagination, invalid_value
from concord.sandbox.zendesk.models import JsonDict


class Listed(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def updated_at(self) -> int: ...


T = TypeVar("T", bound=Listed)
Render = Callable[[T], JsonDict]


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(token) from exc


def _int_param(params: QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit():
        raise invalid_pagination(f"{name} must be a positive integer")
    return int(raw)


def _cursor_id(params: QueryParams, name: str) -> int | None:
    token = params.get(name)
    if token is None:
        return None
    try:
        return int(_decode(token))
    except ValueError:
        raise invalid_pagination(f"{name} is not a valid cursor") from None


def uses_cursor(params: QueryParams) -> bool:
    return any(key in params for key in ("page[size]", "page[after]", "page[before]"))


def cursor_page(
    url: URL, params: QueryParams, key: str, items: Sequence[T], render: Render[T], max_size: int
) -> JsonDict:
    """`page[size]` (at most `max_size`) with `page[after]`/`page[before]`; records in id order."""
    size = _int_param(params, "page[size]", max_size)
    if size < 1 or size > max_size:
        raise invalid_pagination(f"page[size] must be between 1 and {max_size}")
    after, before = _cursor_id(params, "page[after]"), _cursor_id(params, "page[before]")
    if before is not None:
        older = [item for item in items if item.id < before]
        page, has_more = older[-size:], len(older) > size
    else:
        newer = [item for item in items if after is None or item.id > after]
        page, has_more = newer[:size], len(newer) > size
    after_cursor = _encode(str(page[-1].id)) if page else None
    before_cursor = _encode(str(page[0].id)) if page else None
    base = url.remove_query_params(["page[after]", "page[before]", "page[size]"])
    links = {
        "next": str(base.include_query_params(**{"page[size]": size, "page[after]": after_cursor}))
        if after_cursor
        else None,
        "prev": str(base.include_query_params(**{"page[size]": size, "page[before]": before_cursor}))
        if before_cursor
        else None,
    }
    return {
        key: [render(item) for item in page],
        "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
        "links": links,
    }


def offset_page(
    url: URL, params: QueryParams, key: str, items: Sequence[T], render: Render[T], max_size: int
) -> JsonDict:
    """`page` (1-based) and `per_page`; Zendesk quietly caps `per_page` at its maximum."""
    number = max(_int_param(params, "page", 1), 1)
    per_page = min(max(_int_param(params, "per_page", max_size), 1), max_size)
    start = (number - 1) * per_page
    page = items[start : start + per_page]

    def link(target: int) -> str:
        return str(url.include_query_params(page=target, per_page=per_page))

    return {
        key: [render(item) for item in page],
        "next_page": link(number + 1) if start + per_page < len(items) else None,
        "previous_page": link(number - 1) if number > 1 and items else None,
        "count": len(items),
    }


def list_page(
    url: URL, params: QueryParams, key: str, items: Sequence[T], render: Render[T], max_size: int
) -> JsonDict:
    if uses_cursor(params):
        return cursor_page(url, params, key, items, render, max_size)
    return offset_page(url, params, key, items, render, max_size)


# ---- incremental exports --------------------------------------------------------------------------------


def _start_time(params: QueryParams, now: int, min_age_s: int) -> int:
    raw = params.get("start_time")
    if raw is None or not raw.strip().lstrip("-").isdigit():
        raise invalid_value("start_time is required and must be a Unix epoch time")
    start = int(raw)
    if start > now - min_age_s:
        minutes = max(min_age_s // 60, 1)
        unit = "minute" if minutes == 1 else "minutes"
        raise invalid_value(f"Too recent start_time. Use a start_time older than {minutes} {unit}", 422)
    return start


def _by_change(items: Sequence[T]) -> list[T]:
    return sorted(items, key=lambda item: (item.updated_at, item.id))


def time_based_export(
    url: URL,
    params: QueryParams,
    key: str,
    items: Sequence[T],
    render: Render[T],
    now: int,
    min_age_s: int,
    max_per_page: int,
) -> JsonDict:
    """Records changed at or after `start_time`, oldest first, leaving out the most recent minute.

    The next page starts at `end_time`, the newest timestamp returned, so records sharing that second are
    sent again: Zendesk documents these duplicates and expects the client to drop them.
    """
    start = _start_time(params, now, min_age_s)
    per_page = min(max(_int_param(params, "per_page", max_per_page), 1), max_per_page)
    window = [item for item in _by_change(items) if start <= item.updated_at <= now - min_age_s]
    page = window[:per_page]
    end_time = page[-1].updated_at if page else start
    return {
        key: [render(item) for item in page],
        "count": len(page),
        "end_time": end_time,
        "next_page": str(url.include_query_params(start_time=end_time)),
        "end_of_stream": len(window) <= per_page,
    }


def _export_cursor(position: tuple[int, int]) -> str:
    # Real cursors are base64 of "<epoch>.0||<id>|"; clients must treat them as opaque.
    return _encode(f"{position[0]}.0||{position[1]}|")


def _parse_export_cursor(token: str) -> tuple[int, int]:
    try:
        stamp, _, rest = _decode(token).partition("||")
        return int(float(stamp)), int(rest.rstrip("|"))
    except ValueError:
        raise invalid_value("cursor is invalid") from None


def cursor_based_export(
    url: URL,
    params: QueryParams,
    key: str,
    items: Sequence[T],
    render: Render[T],
    now: int,
    min_age_s: int,
    max_per_page: int,
) -> JsonDict:
    """Records after the cursor position (or changed at/after `start_time`), oldest first.

    `after_cursor` is always present, also at the end of the stream, so a poller stores it and resumes
    from exactly there; a record changed again later moves past the cursor and is exported again.
    """
    token = params.get("cursor")
    position = (_start_time(params, now, min_age_s), 0) if token is None else _parse_export_cursor(token)
    per_page = min(max(_int_param(params, "per_page", max_per_page), 1), max_per_page)
    window = [
        item
        for item in _by_change(items)
        if (item.updated_at, item.id) > position and item.updated_at <= now - min_age_s
    ]
    page = window[:per_page]
    after = (page[-1].updated_at, page[-1].id) if page else position
    after_cursor = _export_cursor(after)
    base = url.remove_query_params(["start_time", "cursor"])
    return {
        key: [render(item) for item in page],
        "after_url": str(base.include_query_params(cursor=after_cursor)),
        "after_cursor": after_cursor,
        "before_url": None,
        "before_cursor": None,
        "end_of_stream": len(window) <= per_page,
    }
