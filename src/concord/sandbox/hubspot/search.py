"""CRM search: filter groups (OR of ANDs), one sort, offset paging capped at 10,000 results.

Limits follow HubSpot's search guide: at most 5 filter groups, 6 filters per group and 18 filters in
total, one sort rule, `limit` up to 200. Values compare by property type, strings case-insensitively;
records without a value never match a positive filter but do match NEQ / NOT_IN / NOT_CONTAINS_TOKEN.
"""

from __future__ import annotations

import fnmatch
import re

from concord.sandbox.hubspot.errors import HubSpotError, validation_error
from concord.sandbox.hubspot.schemas import SearchFilter, SearchRequest, SortSpec
from concord.sandbox.hubspot.store import CrmObject, ObjectTable
from concord.sandbox.hubspot.values import Comparable, PropValue, comparable

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
_NO_VALUE = ("HAS_PROPERTY", "NOT_HAS_PROPERTY")
_NEGATIVE = ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY")
_TOKEN_SPLIT = re.compile(r"[\s,;]+")


def _text(value: PropValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _key(table: ObjectTable, name: str, value: PropValue) -> Comparable:
    key = comparable(table.definitions[name].type, _text(value))
    if key is None or value is None:
        raise validation_error(f"{_text(value)!r} is not a valid value for the property {name}.")
    return key


def _unknown_property(name: str) -> HubSpotError:
    return validation_error(f'There was a problem with the request: Property "{name}" does not exist')


def _check_filter(table: ObjectTable, f: SearchFilter) -> None:
    if f.property_name not in table.definitions:
        raise _unknown_property(f.property_name)
    if f.operator in _NO_VALUE or f.operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return
    if f.operator in ("IN", "NOT_IN"):
        if not f.values:
            raise validation_error(f"The {f.operator} operator requires a non-empty values list.")
        for value in f.values:
            _key(table, f.property_name, value)
        return
    _key(table, f.property_name, f.value)
    if f.operator == "BETWEEN":
        _key(table, f.property_name, f.high_value)


def validate(table: ObjectTable, request: SearchRequest, max_limit: int) -> None:
    groups = request.filter_groups
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)}. The maximum is {MAX_GROUPS}.")
    for group in groups:
        if len(group.filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a filter group: {len(group.filters)}. "
                f"The maximum is {MAX_FILTERS_PER_GROUP}."
            )
        for f in group.filters:
            _check_filter(table, f)
    total = sum(len(g.filters) for g in groups)
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total}. The maximum is {MAX_FILTERS}.")
    if request.limit > max_limit:
        raise validation_error(f"limit must be less than or equal to {max_limit}; was {request.limit}.")
    if len(request.sorts) > 1:
        raise validation_error("Only one sort is supported per search request.")
    for sort in request.sorts:
        name = _sort_name(sort)[0]
        if name not in table.definitions:
            raise _unknown_property(name)


def _contains_token(stored: str, pattern: str) -> bool:
    wanted = pattern.lower()
    candidates = [stored.lower(), *_TOKEN_SPLIT.split(stored.lower())]
    if "*" in wanted:
        return any(fnmatch.fnmatchcase(c, wanted) for c in candidates)
    words = set(re.split(r"[^0-9a-z]+", stored.lower())) | set(candidates)
    return wanted in words


def _compare(op: str, left: Comparable, right: Comparable) -> bool:
    if isinstance(left, str) != isinstance(right, str):
        return False
    if op == "EQ":
        return left == right
    if op == "NEQ":
        return left != right
    if isinstance(left, str) and isinstance(right, str):
        return {"GT": left > right, "GTE": left >= right, "LT": left < right, "LTE": left <= right}[op]
    assert isinstance(left, float) and isinstance(right, float)
    return {"GT": left > right, "GTE": left >= right, "LT": left < right, "LTE": left <= right}[op]


def _matches(table: ObjectTable, values: dict[str, str], f: SearchFilter) -> bool:
    stored = values.get(f.property_name)
    if stored is None:
        return f.operator in _NEGATIVE
    if f.operator in _NO_VALUE:
        return f.operator == "HAS_PROPERTY"
    if f.operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return _contains_token(stored, _text(f.value)) == (f.operator == "CONTAINS_TOKEN")
    left = _key(table, f.property_name, stored)
    if f.operator in ("IN", "NOT_IN"):
        hit = left in {_key(table, f.property_name, v) for v in f.values or []}
        return hit == (f.operator == "IN")
    if f.operator == "BETWEEN":
        low = _key(table, f.property_name, f.value)
        high = _key(table, f.property_name, f.high_value)
        return _compare("GTE", left, low) and _compare("LTE", left, high)
    return _compare(f.operator, left, _key(table, f.property_name, f.value))


def _matches_query(table: ObjectTable, values: dict[str, str], query: str | None) -> bool:
    if not query or not query.strip():
        return True
    needle = query.strip().lower()
    return any(needle in values.get(name, "").lower() for name in table.spec.text_properties)


def _sort_name(sort: SortSpec | str) -> tuple[str, bool]:
    if isinstance(sort, SortSpec):
        return sort.property_name, sort.direction == "DESCENDING"
    return sort.lstrip("-"), sort.startswith("-")


Hit = tuple[CrmObject, dict[str, str]]


def _ordered(table: ObjectTable, hits: list[Hit], request: SearchRequest) -> list[CrmObject]:
    by_id = sorted(hits, key=lambda hit: int(hit[0].id))
    if not request.sorts:
        return [obj for obj, _ in by_id]
    name, descending = _sort_name(request.sorts[0])
    present = [hit for hit in by_id if name in hit[1]]
    missing = [hit for hit in by_id if name not in hit[1]]
    present.sort(key=lambda hit: _key(table, name, hit[1][name]), reverse=descending)
    # Records without the sort property come last in either direction, as in HubSpot's index.
    return [obj for obj, _ in present + missing]


def run(
    table: ObjectTable, objects: list[CrmObject], request: SearchRequest, max_results: int
) -> tuple[list[CrmObject], int, str | None]:
    """One page of matches, the total number of matches and the `after` cursor of the next page."""
    offset = int(request.after) if request.after and request.after.isdigit() else 0
    if request.after and not request.after.isdigit():
        raise validation_error(f"after must be a non-negative integer offset; was {request.after}.")
    if offset >= max_results:
        raise validation_error(f"Paging is limited to the first {max_results} results of a search.")
    hits: list[Hit] = []
    for obj in objects:
        values = table.values_of(obj)
        groups = request.filter_groups
        if groups and not any(all(_matches(table, values, f) for f in g.filters) for g in groups):
            continue
        if _matches_query(table, values, request.query):
            hits.append((obj, values))
    ordered = _ordered(table, hits, request)
    end = min(offset + request.limit, len(ordered), max_results)
    after = str(end) if request.limit and end < min(len(ordered), max_results) else None
    return ordered[offset:end], len(ordered), after
