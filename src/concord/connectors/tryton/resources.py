"""`TrytonConnector`: Tryton parties through the Connector contract, plus typed credit-side methods.

A party travels as a flat dict in Tryton's own names (the first address and the first mechanism of each
contact type are flattened; anything else stays in Tryton untouched):

    code                     party code; parties Concord creates carry the Concord id here (the upsert key)
    name, active
    email, phone, mobile, website                  contact mechanisms, first of each type
    tax_identifier.type, tax_identifier.code       e.g. "eu_vat", "BE0897290877"
    tax_identifiers          the same as a list [{"type", "value", "country"}] (canonical tax-id shape)
    address.street, address.postal_code, address.city, address.country   (country as ISO alpha-2)
    credit_limit_amount      decimal string for the configured company (read-only here: set_credit_limit)

The Concord id lives in `code`: codes are unique per database, so a duplicate create fails instead of
duplicating, and an explicit code avoids the party-sequence race concurrent creates hit on SQLite. Lookups
include archived parties (`active_test: False`); Tryton keeps no trace of deletions, so none are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from concord.connectors.base import (
    Capabilities,
    ChangePage,
    Conflict,
    DataRejected,
    ExternalRecord,
    NotFound,
)
from concord.connectors.tryton.auth import SecretResolver
from concord.connectors.tryton.client import RpcIn, RpcOut, TrytonClient, attribute_field, flatten_dotted
from concord.connectors.tryton.config import SYSTEM, TrytonConfig
from concord.connectors.tryton.objects import (
    EXTERNAL_ID_FIELDS,
    OBJECT,
    PARTY,
    PARTY_FIELDS,
    WITH_ARCHIVED,
    InvoiceSummary,
    Receivables,
    SaleSummary,
    SubscriptionSummary,
    cursor_domain,
    decimal_of,
    flatten_party,
    int_id,
    overdue_domain,
    party_code,
    party_cursor,
    party_values,
    row_modified,
    search_domain,
)
from concord.connectors.tryton.sales import place_confirmed_order


class TrytonConnector:
    """The Connector protocol for object "party" over Tryton JSON-RPC; see the module docstring."""

    name = "tryton"

    def __init__(
        self,
        config: TrytonConfig,
        http: httpx.Client | None = None,
        resolver: SecretResolver | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.config = config
        self.client = TrytonClient(config, http=http, resolver=resolver)
        self._today = today
        self._countries: dict[str, int] = {}
        self.capabilities = Capabilities(
            objects=(OBJECT,), bulk_batch_size=config.batch_size, upsert_by_external_id=True,
            idempotency_header=None, webhooks=False, cursor_field="write_date", rate_limit=None,
            change_time_resolution_s=0.000001,  # write_date is a timestamp with microseconds
        )

    # -- Connector protocol -----------------------------------------------------------------------------
    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        self._check(obj)
        rows = self.client.search_read(PARTY, search_domain(criteria), PARTY_FIELDS, limit=limit,
                                       order=[("id", "ASC")], context=WITH_ARCHIVED)
        return [self._record(row) for row in rows]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._check(obj)
        row = self._row(record_id)
        return None if row is None else self._record(row)

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        self._check(obj)
        # Every attempt looks the code up first, so retrying after a lost response never creates twice.
        return self.client.retrier.run(lambda: self._create_once(fields, idempotency_key))

    def _create_once(self, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        code = party_code(fields, idempotency_key)
        existing = self._by_code(code)  # read before create: a retried create returns the first result
        if existing is not None:
            return self._record(existing)
        values = party_values({**fields, "code": code}, None, self._country_id)
        try:
            party_id, = self.client.create(PARTY, [values])
        except Conflict:
            raced = self._by_code(code)  # another writer created the same code first
            if raced is None:
                raise
            return self._record(raced)
        except DataRejected as exc:
            raise attribute_field(exc, fields) from exc
        return self._must_read(party_id)

    def create_many(self, obj: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[ExternalRecord]:
        """Bulk `create` of (idempotency_key, fields) pairs, `batch_size` parties per call; each call is one
        transaction (all of a batch or none). Parties whose code exists already are returned, not re-created."""
        self._check(obj)
        codes = [party_code(fields, key) for key, fields in items]
        by_code = {code: fields for code, (_, fields) in zip(codes, items, strict=True)}
        existing = self._by_codes(list(by_code))
        missing = [code for code in by_code if code not in existing]
        for start in range(0, len(missing), self.config.batch_size):
            batch = missing[start : start + self.config.batch_size]
            self.client.retrier.run(partial(self._create_missing, batch, by_code))
        found = self._by_codes(codes)
        return [self._record(found[code]) for code in codes]

    def _create_missing(self, codes: list[str], by_code: Mapping[str, dict[str, Any]]) -> None:
        """One attempt at a batch: create the parties whose code does not exist yet (a retry after a lost
        response finds the batch's transaction committed, or not at all)."""
        found = self._by_codes(codes)
        todo = [party_values({**by_code[code], "code": code}, None, self._country_id)
                for code in codes if code not in found]
        if todo:
            self.client.create(PARTY, todo)

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._check(obj)
        row = self._row(record_id)
        if row is None:
            raise NotFound(SYSTEM, f"party {record_id} does not exist")
        values = party_values(fields, row, self._country_id)
        party_id = int_id(row.get("id"))
        if values:
            try:
                # Writing the same values again is harmless, so a lost response is simply retried.
                self.client.retrier.run(lambda: self.client.write(PARTY, [party_id], values))
            except DataRejected as exc:
                raise attribute_field(exc, fields) from exc
        return self._must_read(party_id)

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._check(obj)
        if external_id_field not in EXTERNAL_ID_FIELDS:
            raise DataRejected(SYSTEM, f"parties upsert by code only, not {external_id_field!r}",
                               field=external_id_field, code="unsupported_external_id")
        existing = self._by_code(external_id)
        rest = {k: v for k, v in fields.items() if k not in EXTERNAL_ID_FIELDS}
        if existing is None:
            return self.create(obj, {**rest, "code": external_id}, idempotency_key=external_id)
        return self.update(obj, str(int_id(existing.get("id"))), rest)

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        """Parties created or written after `cursor` ("<write_date ISO>|<id>"), oldest first.

        Tryton sets write_date on create too, so one field covers both. (write_date, id) is a total order,
        so a page boundary between equal timestamps neither skips nor repeats a party.
        """
        self._check(obj)
        size = self.config.page_size
        order = [("write_date", "ASC"), ("id", "ASC")]
        rows = self.client.search_read(PARTY, cursor_domain(cursor), PARTY_FIELDS, limit=size + 1, order=order,
                                       context=WITH_ARCHIVED)
        page = rows[:size]
        next_cursor = party_cursor(page[-1]) if page else cursor
        return ChangePage(records=[self._record(r) for r in page], cursor=next_cursor, has_more=len(rows) > size)

    def close(self) -> None:
        self.client.close()

    # -- credit side (typed) ----------------------------------------------------------------------------
    def set_credit_limit(self, party_id: int, amount: Decimal | None, company_id: int | None = None) -> None:
        """Credit limits are per company (a MultiValue field): the company context decides where it lands."""
        self.client.write(PARTY, [party_id], {"credit_limit_amount": amount}, self._company(company_id))

    def get_credit_limit(self, party_id: int, company_id: int | None = None) -> Decimal | None:
        rows = self.client.read(PARTY, [party_id], ["credit_limit_amount"], self._company(company_id))
        value = rows[0].get("credit_limit_amount") if rows else None
        return None if value is None else decimal_of(value)

    def get_receivables(self, party_id: int, company_id: int | None = None) -> Receivables:
        company = company_id or self.config.company_id
        context = self._company(company)
        names = ["receivable", "payable", "receivable_today"]
        rows = self.client.read(PARTY, [party_id], names, context)
        if not rows:
            raise NotFound(SYSTEM, f"party {party_id} does not exist")
        return Receivables(
            party_id=party_id, company_id=company, receivable=decimal_of(rows[0].get("receivable")),
            payable=decimal_of(rows[0].get("payable")), receivable_today=decimal_of(rows[0].get("receivable_today")),
            overdue=self._overdue(party_id, company), open_invoices=self._open_invoices(party_id, company),
        )

    def list_sales(self, party_id: int, company_id: int | None = None) -> list[SaleSummary]:
        fields = ["number", "state", "sale_date", "total_amount", "currency.code"]
        rows = self._documents("sale.sale", fields, party_id, company_id or self.config.company_id)
        return [SaleSummary.model_validate(row) for row in rows]

    def place_order(self, party_id: int, reference: str, description: str, lines: list[str],
                    company_id: int | None = None) -> SaleSummary:
        """A confirmed sale order for the party, once per `reference` (see sales.py)."""
        return place_confirmed_order(self.client, party_id, company_id or self.config.company_id, reference,
                                     description, lines)

    def list_subscriptions(self, party_id: int, company_id: int | None = None) -> list[SubscriptionSummary]:
        fields = ["number", "state", "start_date", "end_date", "currency.code"]
        rows = self._documents("sale.subscription", fields, party_id, company_id or self.config.company_id)
        return [SubscriptionSummary.model_validate(row) for row in rows]

    # -- internals --------------------------------------------------------------------------------------
    def _check(self, obj: str) -> None:
        if obj != OBJECT:
            raise DataRejected(SYSTEM, f"object {obj!r} is not supported (only {OBJECT!r})", code="unknown_object")

    def _company(self, company_id: int | None) -> dict[str, RpcIn]:
        return {"company": company_id or self.config.company_id}

    def _record(self, row: Mapping[str, RpcOut]) -> ExternalRecord:
        return ExternalRecord(object=OBJECT, id=str(row.get("id")), fields=flatten_party(row),
                              modified_at=row_modified(row))

    def _row(self, record_id: str) -> dict[str, RpcOut] | None:
        # search_read, not read: read of a missing id is a UserError, a search simply finds nothing.
        if not record_id.isdigit():
            return None
        rows = self.client.search_read(PARTY, [("id", "=", int(record_id))], PARTY_FIELDS, context=WITH_ARCHIVED)
        return rows[0] if rows else None

    def _must_read(self, party_id: int) -> ExternalRecord:
        row = self._row(str(party_id))
        if row is None:
            raise NotFound(SYSTEM, f"party {party_id} vanished after the write")
        return self._record(row)

    def _by_code(self, code: str) -> dict[str, RpcOut] | None:
        return self._by_codes([code]).get(code)

    def _by_codes(self, codes: Sequence[str]) -> dict[str, dict[str, RpcOut]]:
        rows = self.client.search_read(PARTY, [("code", "in", list(codes))], PARTY_FIELDS, context=WITH_ARCHIVED)
        return {str(row.get("code")): row for row in rows}

    def _country_id(self, code: object) -> int | None:
        if not code:
            return None
        key = str(code).upper()
        if key not in self._countries:
            found = self.client.search("country.country", [("code", "=", key)], limit=1)
            if not found:
                raise DataRejected(SYSTEM, f"unknown country code {key!r}", field="address.country")
            self._countries[key] = found[0]
        return self._countries[key]

    def _overdue(self, party_id: int, company: int) -> Decimal:
        domain = overdue_domain(party_id, company, self._today())
        lines = self.client.search_read("account.move.line", domain, ["debit", "credit"],
                                        context=self._company(company))
        return sum((decimal_of(line.get("debit")) - decimal_of(line.get("credit")) for line in lines), Decimal(0))

    def _open_invoices(self, party_id: int, company: int) -> list[InvoiceSummary]:
        fields = ["number", "invoice_date", "state", "total_amount", "amount_to_pay"]
        extra: list[RpcIn] = [("type", "=", "out"), ("state", "=", "posted")]
        rows = self._documents("account.invoice", fields, party_id, company, extra)
        return [InvoiceSummary.model_validate(row) for row in rows]

    def _documents(self, model: str, fields: list[str], party_id: int, company: int,
                   extra: list[RpcIn] | None = None) -> list[dict[str, RpcOut]]:
        """A party's documents of one company, oldest first, with `x.y` reads flattened to plain keys."""
        domain: list[RpcIn] = [("party", "=", party_id), ("company", "=", company), *(extra or [])]
        rows = self.client.search_read(model, domain, fields, order=[("id", "ASC")], context=self._company(company))
        return [flatten_dotted(row) for row in rows]
