"""The subset of Stripe's Search Query Language the twin supports.

`field:'value'` (exact, case-insensitive), `field~'sub'` (substring, at least 3 characters), numeric
`>`, `<`, `>=`, `<=`, `-` negation, `metadata['key']:'value'`, `null`, and clauses joined by AND or by OR —
Stripe refuses a query that mixes the two. Results page with an opaque `page` token (`next_page`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from concord.sandbox.stripe.errors import StripeApiError, invalid_param
from concord.sandbox.stripe.store import StripeObject

FieldValue = str | int | None
Getter = Callable[[StripeObject], FieldValue]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<join>AND|OR)(?=\s)
    |(?P<neg>-)?(?P<field>metadata\[(?:'[^']*'|"[^"]*")\]|[a-z_]+)
     (?P<op>>=|<=|:|~|>|<)
     (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: str | float | None
    negate: bool


def _unquote(raw: str) -> str | float | None:
    if raw == "null":
        return None
    if raw[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return float(raw)


def parse_query(query: str, resource: str, fields: Mapping[str, Getter]) -> tuple[list[Clause], str]:
    clauses: list[Clause] = []
    joins: set[str] = set()
    position = 0
    query = query.strip()
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:
            raise invalid_param("query", f"Invalid query: unexpected input at position {position}: {query!r}")
        position = match.end()
        if match.group("join"):
            joins.add(match.group("join"))
            continue
        field = match.group("field")
        base = "metadata" if field.startswith("metadata[") else field
        if base not in fields:
            raise invalid_param(
                "query",
                f"Field `{base}` is an unsupported search field for resource `{resource}`. See "
                f"http://stripe.com/docs/search#query-fields-for-{resource} for a list of supported fields.",
            )
        clauses.append(Clause(field, match.group("op"), _unquote(match.group("value")), bool(match.group("neg"))))
    if not clauses or len(joins) > 1 or (len(clauses) > 1 and not joins):
        raise invalid_param(
            "query", "Invalid query: clauses must be joined by AND or by OR; using both is not supported."
        )
    return clauses, joins.pop() if joins else "AND"


def _field_value(obj: StripeObject, field: str, fields: Mapping[str, Getter]) -> FieldValue:
    if field.startswith("metadata["):
        key = field[len("metadata[") + 1 : -2]
        value: str | None = obj.get("metadata", {}).get(key)
        return value
    return fields[field](obj)


def _matches(obj: StripeObject, clause: Clause, fields: Mapping[str, Getter]) -> bool:
    actual = _field_value(obj, clause.field, fields)
    wanted = clause.value
    if clause.op == ":":
        if wanted is None or actual is None:
            result = wanted is None and actual is None
        elif isinstance(wanted, float):
            result = isinstance(actual, int) and actual == wanted
        else:
            result = str(actual).lower() == wanted.lower()
    elif clause.op == "~":
        if not isinstance(wanted, str) or len(wanted) < 3:
            raise invalid_param("query", "Substring search (~) requires a value of at least 3 characters.")
        result = actual is not None and wanted.lower() in str(actual).lower()
    else:
        if not isinstance(wanted, float) or not isinstance(actual, int):
            raise invalid_param("query", f"Operator {clause.op} requires a numeric field and value.")
        result = {">": actual > wanted, "<": actual < wanted, ">=": actual >= wanted, "<=": actual <= wanted}[clause.op]
    return result != clause.negate


def run_search(
    items: list[StripeObject], query: str, resource: str, fields: Mapping[str, Getter]
) -> list[StripeObject]:
    clauses, join = parse_query(query, resource, fields)
    combine = all if join == "AND" else any
    return [item for item in items if combine(_matches(item, clause, fields) for clause in clauses)]


def encode_page(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def decode_page(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise StripeApiError(400, f"Invalid page: {token}", param="page") from None


def search_page(matches: list[StripeObject], limit: int, page: str | None, url: str) -> StripeObject:
    start = 0
    if page:
        last_id = decode_page(page)
        ids = [item["id"] for item in matches]
        start = ids.index(last_id) + 1 if last_id in ids else len(matches)
    data = matches[start : start + limit]
    has_more = len(matches) > start + limit
    return {
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": encode_page(data[-1]["id"]) if has_more and data else None,
        "url": url,
    }


CUSTOMER_FIELDS: dict[str, Getter] = {
    "created": lambda obj: obj.get("created"),
    "email": lambda obj: obj.get("email"),
    "metadata": lambda obj: None,
    "name": lambda obj: obj.get("name"),
    "phone": lambda obj: obj.get("phone"),
}

SUBSCRIPTION_FIELDS: dict[str, Getter] = {
    "created": lambda obj: obj.get("created"),
    "metadata": lambda obj: None,
    "status": lambda obj: obj.get("status"),
}


def _invoice_subscription(obj: StripeObject) -> str | None:
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription: str | None = details.get("subscription")
    return subscription


INVOICE_FIELDS: dict[str, Getter] = {
    "created": lambda obj: obj.get("created"),
    "currency": lambda obj: obj.get("currency"),
    "customer": lambda obj: obj.get("customer"),
    "metadata": lambda obj: None,
    "number": lambda obj: obj.get("number"),
    "status": lambda obj: obj.get("status"),
    "subscription": _invoice_subscription,
    "total": lambda obj: obj.get("total"),
}
