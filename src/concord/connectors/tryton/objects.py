"""Tryton parties as Concord reads and writes them: the fields read, the flat field dict built from a row,
the search and change-capture domains, the write values (one2many operations) for flat fields, and the typed
credit-side summaries. Pure: no client, no I/O (the party connector in `resources`, the invoice feed in
`invoices` and the sale orders in `sales` use it). The flat field names are documented in `resources`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from concord.connectors.base import ConnectorError, DataRejected
from concord.connectors.tryton.client import RpcIn, RpcOut
from concord.connectors.tryton.config import SYSTEM

OBJECT = "party"
PARTY = "party.party"
EXTERNAL_ID_FIELDS = frozenset({"code", "concord_id"})
MECHANISM_TYPES = ("email", "phone", "mobile", "website")
ADDRESS_KEYS = ("street", "postal_code", "city", "country")
WRITABLE = frozenset({"code", "concord_id", "name", "active", *MECHANISM_TYPES, "tax_identifiers",
                      "tax_identifier.type", "tax_identifier.code", *(f"address.{key}" for key in ADDRESS_KEYS)})
PARTY_FIELDS = ["code", "name", "active", "write_date", "create_date", "credit_limit_amount",
                "tax_identifier.type", "tax_identifier.code", "contact_mechanisms.type", "contact_mechanisms.value",
                "identifiers.type", "identifiers.code", "addresses.street", "addresses.postal_code", "addresses.city",
                "addresses.country.code"]
WITH_ARCHIVED: dict[str, RpcIn] = {"active_test": False}
_SEARCH_KEYS: dict[str, Callable[[str], list[RpcIn]]] = {
    "code": lambda v: [("code", "=", v)],
    "concord_id": lambda v: [("code", "=", v)],
    "name": lambda v: [("name", "ilike", v)],
    # Tryton stores the code as typed and a compacted copy ("BE 0897.290.877" → "BE0897290877").
    "tax_identifier": lambda v: ["OR", ("identifiers.code", "=", v), ("identifiers.code_compact", "=", v)],
    # `where` makes both conditions hold on the same mechanism, not on any two of the party's mechanisms.
    "email": lambda v: [("contact_mechanisms", "where", [("type", "=", "email"), ("value", "=", v)])],
}


class InvoiceSummary(BaseModel):
    id: int
    number: str | None = None
    invoice_date: date | None = None
    state: str
    total: Decimal = Field(validation_alias="total_amount")
    amount_to_pay: Decimal


class Receivables(BaseModel):
    """Open balances of one party in one company, from posted accounting (Tryton's own party fields)."""

    party_id: int
    company_id: int
    receivable: Decimal
    payable: Decimal
    receivable_today: Decimal  # receivable lines due today or earlier
    overdue: Decimal  # unreconciled receivable lines whose maturity date has passed
    open_invoices: list[InvoiceSummary]


class SaleSummary(BaseModel):
    id: int
    number: str | None = None
    state: str
    sale_date: date | None = None
    total: Decimal = Field(validation_alias="total_amount")
    currency: str | None = Field(default=None, validation_alias="currency.code")


class SubscriptionSummary(BaseModel):
    id: int
    number: str | None = None
    state: str
    start_date: date | None = None
    end_date: date | None = None
    currency: str | None = Field(default=None, validation_alias="currency.code")


# -- reading rows ---------------------------------------------------------------------------------------
def rows_of(value: RpcOut) -> list[dict[str, RpcOut]]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def decimal_of(value: RpcOut) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def nested_of(row: Mapping[str, RpcOut], name: str) -> dict[str, RpcOut]:
    value = row.get(f"{name}.")
    return value if isinstance(value, dict) else {}


def int_id(value: RpcOut) -> int:
    if isinstance(value, int):
        return value
    raise ConnectorError(SYSTEM, f"unexpected record id {value!r}")


def flatten_party(row: Mapping[str, RpcOut]) -> dict[str, Any]:
    """The documented flat field dict of one `read` row (see the `resources` module docstring)."""
    # SQLite hands booleans back as 0/1.
    fields: dict[str, Any] = {"code": row.get("code"), "name": row.get("name"), "active": bool(row.get("active"))}
    limit = row.get("credit_limit_amount")
    fields["credit_limit_amount"] = None if limit is None else str(limit)
    mechanisms = rows_of(row.get("contact_mechanisms."))
    for kind in MECHANISM_TYPES:
        fields[kind] = next((m.get("value") for m in mechanisms if m.get("type") == kind), None)
    tax = nested_of(row, "tax_identifier")
    fields["tax_identifier.type"], fields["tax_identifier.code"] = tax.get("type"), tax.get("code")
    fields["tax_identifiers"] = [{"type": tax.get("type"), "value": tax.get("code"), "country": None}] \
        if tax.get("code") else []
    address = (rows_of(row.get("addresses.")) or [{}])[0]
    for key in ADDRESS_KEYS[:-1]:
        fields[f"address.{key}"] = address.get(key) or None
    fields["address.country"] = nested_of(address, "country").get("code")
    return fields


def row_modified(row: Mapping[str, RpcOut]) -> datetime | None:
    stamp = row.get("write_date") or row.get("create_date")
    # Tryton stores naive UTC timestamps.
    return stamp.replace(tzinfo=UTC) if isinstance(stamp, datetime) else None


# -- search and change-capture domains ------------------------------------------------------------------
def search_domain(criteria: Mapping[str, Any]) -> list[RpcIn]:
    """The party domain for search criteria (all must hold); unknown criteria are refused."""
    domain: list[RpcIn] = []
    for key, value in criteria.items():
        if key not in _SEARCH_KEYS:
            raise DataRejected(SYSTEM, f"cannot search parties by {key!r}", field=key, code="unknown_field")
        domain.append(_SEARCH_KEYS[key](str(value)))
    return domain


def cursor_domain(cursor: str | None) -> list[RpcIn]:
    if not cursor:
        return []
    stamp_text, _, last_id = cursor.rpartition("|")
    try:
        stamp, after = datetime.fromisoformat(stamp_text), int(last_id)
    except ValueError as exc:
        raise DataRejected(SYSTEM, f"malformed cursor {cursor!r}", field="cursor") from exc
    return ["OR", [("write_date", ">", stamp)], [("write_date", "=", stamp), ("id", ">", after)]]


def party_cursor(last: Mapping[str, RpcOut]) -> str:
    """The change cursor ("<write_date ISO>|<id>") just past the party row `last`."""
    stamp = last.get("write_date")
    naive = stamp if isinstance(stamp, datetime) else datetime.min  # NULLs sort first: already passed
    return f"{naive.isoformat()}|{int_id(last.get('id'))}"


def overdue_domain(party_id: int, company: int, today: date) -> list[RpcIn]:
    """Posted, unreconciled receivable lines of the party in the company whose maturity date has passed."""
    return [
        ("party", "=", party_id), ("account.type.receivable", "=", True), ("reconciliation", "=", None),
        ("maturity_date", "<", today), ("move.state", "=", "posted"), ("move.company", "=", company),
    ]


# -- writing flat fields --------------------------------------------------------------------------------
def party_code(fields: Mapping[str, Any], idempotency_key: str) -> str:
    """The code a created party gets: the caller's code or Concord id, else the idempotency key."""
    return str(fields.get("code") or fields.get("concord_id") or idempotency_key)


def party_values(fields: Mapping[str, Any], row: Mapping[str, RpcOut] | None,
                 country_id: Callable[[object], int | None]) -> dict[str, RpcIn]:
    """Tryton write values (with nested one2many operations) for flat `fields` over the current `row`;
    `country_id` turns an ISO country code into Tryton's country id (a lookup the caller owns)."""
    unknown = sorted(set(fields) - WRITABLE)
    if unknown:
        raise DataRejected(SYSTEM, f"party field {unknown[0]!r} is not writable", field=unknown[0],
                           code="unknown_field")
    values: dict[str, RpcIn] = {k: fields[k] for k in ("code", "name", "active") if k in fields}
    current = row or {}
    mechanisms = _mechanism_ops(fields, rows_of(current.get("contact_mechanisms.")))
    if mechanisms:
        values["contact_mechanisms"] = mechanisms
    identifiers = _identifier_ops(_tax_list_fields(fields), rows_of(current.get("identifiers.")))
    if identifiers:
        values["identifiers"] = identifiers
    address = _address_ops(fields, rows_of(current.get("addresses.")), country_id)
    if address:
        values["addresses"] = address
    return values


def _mechanism_ops(fields: Mapping[str, Any], existing: list[dict[str, RpcOut]]) -> list[RpcIn]:
    ops: list[RpcIn] = []
    for kind in (k for k in MECHANISM_TYPES if k in fields):
        current = next((m for m in existing if m.get("type") == kind), None)
        value = fields[kind]
        if current is not None and value:
            ops.append(["write", [current["id"]], {"value": value}])
        elif current is not None:
            ops.append(["delete", [current["id"]]])
        elif value:
            ops.append(["create", [{"type": kind, "value": value}]])
    return ops


def _address_ops(fields: Mapping[str, Any], existing: list[dict[str, RpcOut]],
                 country_id: Callable[[object], int | None]) -> list[RpcIn]:
    given = {key: fields[f"address.{key}"] for key in ADDRESS_KEYS if f"address.{key}" in fields}
    if not given:
        return []
    if "country" in given:
        given["country"] = country_id(given["country"])
    if existing:
        return [["write", [existing[0]["id"]], given]]
    return [["create", [given]]]


def _tax_list_fields(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """`tax_identifiers` (a list) written as the party's primary tax identifier: Tryton keeps one as primary."""
    if "tax_identifiers" not in fields:
        return fields
    first = (fields["tax_identifiers"] or [None])[0] or {}
    return {**fields, "tax_identifier.type": first.get("type"), "tax_identifier.code": first.get("value")}


def _identifier_ops(fields: Mapping[str, Any], existing: list[dict[str, RpcOut]]) -> list[RpcIn]:
    if "tax_identifier.code" not in fields:
        return []
    code, kind = fields["tax_identifier.code"], fields.get("tax_identifier.type")
    current = next((i for i in existing if kind is None or i.get("type") == kind), None)
    if current is not None and code:
        return [["write", [current["id"]], {"code": code, **({"type": kind} if kind else {})}]]
    if current is not None:
        return [["delete", [current["id"]]]]
    if not code:
        return []
    if not kind:
        raise DataRejected(SYSTEM, "a new tax identifier needs tax_identifier.type", field="tax_identifier.type")
    return [["create", [{"type": kind, "code": code}]]]
