"""List envelopes with cursor paging, `created` range filters and `expand[]`, as every Stripe list endpoint has.

Lists run newest first. `starting_after=X` gives the page after X in that order, `ending_before=X` the page
just before it (still newest first), and `has_more` says whether the walk can go on in that direction.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from concord.sandbox.stripe.errors import StripeApiError, invalid_param, no_such
from concord.sandbox.stripe.forms import Params
from concord.sandbox.stripe.store import StripeObject, StripeStore, kind_of

PAGING_KEYS = ("limit", "starting_after", "ending_before", "expand")


def read_limit(params: Params, default: int = 10) -> int:
    limit = params.integer("limit")
    if limit is None:
        return default
    if limit < 1:
        raise invalid_param("limit", "This value must be greater than or equal to 1.")
    if limit > 100:
        raise invalid_param("limit", "This value must be less than or equal to 100.")
    return limit


def _cursor_index(items: list[StripeObject], cursor: str, param: str, kind: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == cursor:
            return index
    raise no_such(kind, cursor, param=param, status=400)


def paginate(items: list[StripeObject], params: Params, kind: str) -> tuple[list[StripeObject], bool]:
    limit = read_limit(params)
    after = params.string("starting_after")
    before = params.string("ending_before")
    if after and before:
        raise StripeApiError(400, "You may only specify one of these parameters: ending_before, starting_after.")
    if after:
        start = _cursor_index(items, after, "starting_after", kind) + 1
        return items[start : start + limit], len(items) > start + limit
    if before:
        end = _cursor_index(items, before, "ending_before", kind)
        return items[max(0, end - limit) : end], end - limit > 0
    return items[:limit], len(items) > limit


def list_envelope(store: StripeStore, items: list[StripeObject], params: Params, url: str, kind: str) -> StripeObject:
    page, has_more = paginate(items, params, kind)
    envelope: StripeObject = {"object": "list", "data": page, "has_more": has_more, "url": url}
    return expand(envelope, params.strings("expand"), store)


def created_filter(params: Params, name: str = "created") -> Callable[[StripeObject], bool]:
    """`created=T` or `created[gt|gte|lt|lte]=T`; other timestamp fields (due_date) take the same form."""
    if isinstance(params.data.get(name), str):
        exact = params.integer(name)
        return lambda obj: obj.get(name) == exact
    bounds = params.hash(name)
    if bounds is None:
        return lambda obj: True
    checks: list[Callable[[int], bool]] = []
    for op in ("gt", "gte", "lt", "lte"):
        value = bounds.integer(op)
        if value is not None:
            checks.append(_comparison(op, value))
    return lambda obj: obj.get(name) is not None and all(check(obj[name]) for check in checks)


def _comparison(op: str, bound: int) -> Callable[[int], bool]:
    if op == "gt":
        return lambda value: value > bound
    if op == "gte":
        return lambda value: value >= bound
    if op == "lt":
        return lambda value: value < bound
    return lambda value: value <= bound


def expand(obj: StripeObject, paths: list[str], store: StripeStore) -> StripeObject:
    """Replace ids with the objects they name along each dotted path; unknown paths fail like Stripe."""
    if not paths:
        return obj
    result = copy.deepcopy(obj)
    for path in paths:
        _expand_into(result, path.split("."), path, store)
    return result


def _expand_into(node: StripeObject, parts: list[str], path: str, store: StripeStore) -> None:
    head, rest = parts[0], parts[1:]
    if node.get("object") in ("list", "search_result") and head == "data" and rest:
        for item in node["data"]:
            _expand_into(item, rest, path, store)
        return
    if head not in node:
        raise invalid_param("expand", f"This property cannot be expanded ({path}).")
    value = node[head]
    if isinstance(value, str) and (kind := kind_of(value)) is not None:
        target = store.get(kind, value)
        if target is not None:
            value = node[head] = copy.deepcopy(target)
    if isinstance(value, dict) and rest:
        _expand_into(value, rest, path, store)
    elif not isinstance(value, dict) and value is not None:
        raise invalid_param("expand", f"This property cannot be expanded ({path}).")
