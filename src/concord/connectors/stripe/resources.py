"""`StripeConnector`: customers, subscriptions and invoices through the Connector contract.

Records carry Stripe's own field names, nested as Stripe nests them, projected to the fields Concord's
Stripe mappings know (anything else Stripe adds in later API versions stays out of the way):

    customer      id object created livemode name email phone description currency address shipping metadata
                  balance delinquent invoice_prefix invoice_settings tax_exempt preferred_locales default_source
    subscription  id object created livemode customer status cancel_at_period_end start_date metadata items,
                  plus derived plan_price / quantity (first item), current_period_end (first item; it moved
                  from the subscription to its items in 2025) and monthly_amount_cents (all items, per month)
    invoice       id object created livemode customer subscription status number currency total amount_due
                  amount_paid amount_remaining due_date collection_method attempt_count metadata status_transitions

Writes: every POST carries `Idempotency-Key` (the caller's key for creates; for updates a key derived from the
object, id and payload, see `update`), so a retry after a lost response replays instead of repeating.
Change capture reads `GET /v1/events` by position (`ending_before` the last event seen), see `changes_since`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from concord.connectors.base import Capabilities, ChangePage, Conflict, DataRejected, ExternalRecord, NotFound
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.stripe.client import (
    FormValue,
    StripeClient,
    StripeObject,
    derive_key,
    flatten_criteria,
    search_query,
)
from concord.connectors.stripe.config import SYSTEM, StripeConfig
from concord.connectors.stripe.objects import (
    OBJECTS,
    SPECS,
    ObjectSpec,
    items_of,
    record_from_event,
    to_record,
)

_READ_ONLY = frozenset({"id", "object", "created", "livemode", "status", "current_period_end",
                        "monthly_amount_cents", "deleted"})
_MAX_KEY_GENERATIONS = 5


class Receivables(BaseModel):
    """A customer's unpaid invoices, for credit checks: amounts in the currency's minor unit."""

    customer: str
    currency: str | None
    open_amount: int
    overdue_amount: int
    open_invoices: int
    overdue_invoices: int


class StripeConnector:
    name = SYSTEM

    def __init__(self, config: StripeConfig, client: StripeClient | None = None) -> None:
        self.config = config
        self.client = client or StripeClient(config)
        limit = config.effective_rate_limit()
        # Stripe has no bulk create: one object per call, made exactly-once by Idempotency-Key.
        self.capabilities = Capabilities(objects=OBJECTS, bulk_batch_size=1, upsert_by_external_id=False,
                                         idempotency_header="Idempotency-Key", webhooks=True,
                                         cursor_field="created", rate_limit=limit,
                                         change_time_resolution_s=1.0)

    # -- reads ---------------------------------------------------------------------------------------------
    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        spec = _spec(obj)
        try:
            body = self.client.get(f"{spec.path}/{record_id}")
        except NotFound:
            return None
        return to_record(obj, body)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        spec, flat = _spec(obj), flatten_criteria(criteria)
        if set(flat) == {"id"}:
            found = self.read(obj, str(flat["id"]))
            return [found] if found is not None else []
        if flat and set(flat) <= spec.list_filters:
            pages = self.client.list_pages(spec.path, {**spec.list_params, **flat})
        else:
            unknown = sorted(k for k in flat if k not in spec.search_fields and not k.startswith("metadata."))
            if unknown:
                raise DataRejected(SYSTEM, f"cannot search {obj} by {', '.join(unknown)}", field=unknown[0])
            # Stripe documents search as eventually consistent (typically < 1 min): not for read-after-write.
            pages = self.client.search_pages(f"{spec.path}/search", search_query(flat), limit)
        found_records: list[ExternalRecord] = []
        for page in pages:
            found_records.extend(to_record(obj, item) for item in page)
            if len(found_records) >= limit:
                break
        return found_records[:limit]

    # -- writes --------------------------------------------------------------------------------------------
    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        spec = _writable(obj)
        params = self._native(obj, fields, current=None)
        # A replay of the caller's own key is the point of the key: it returns the record made the first time.
        return to_record(obj, self.client.post(spec.path, params, idempotency_key).body)

    def update(
        self, obj: str, record_id: str, fields: dict[str, Any], idempotency_key: str | None = None
    ) -> ExternalRecord:
        """POST the changed fields. Without a caller key, the key is derived from (object, id, payload).

        A derived key repeats whenever the same change is sent again within Stripe's 24 h key window (A → B → A),
        and Stripe would answer the third call with the saved response of the first without applying it. A
        replay on a call that had no lost attempt is therefore someone else's: send again with the next key.
        """
        spec = _writable(obj)
        current = self._current(obj, record_id, fields)
        params = self._native(obj, fields, current=current)
        path = f"{spec.path}/{record_id}"
        if idempotency_key is not None:
            return to_record(obj, self.client.post(path, params, idempotency_key).body)
        for generation in range(_MAX_KEY_GENERATIONS):
            response = self.client.post(path, params, derive_key("update", obj, record_id, params, generation))
            if not (response.replayed and not response.after_doubt):
                return to_record(obj, response.body)
        raise Conflict(SYSTEM, f"{obj} {record_id}: every derived idempotency key was already used")

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        """Stripe has no upsert: search by metadata, then update or create (capabilities say upsert=False).

        The create key is derived from the external id alone, so two racing upserts create one object (the
        loser gets `Conflict`). Search lags writes by up to a minute, so this is not for tight loops."""
        field = external_id_field if "." in external_id_field else f"metadata.{external_id_field}"
        found = self.search(obj, {field: external_id}, limit=2)
        if len(found) > 1:
            raise Conflict(SYSTEM, f"{len(found)} {obj} records have {field}={external_id!r}")
        if found:
            return self.update(obj, found[0].id, fields)
        key_params: dict[str, FormValue] = {field: external_id}
        return self.create(obj, fields, derive_key("upsert", obj, external_id, key_params, 0))

    def cancel_subscription(self, subscription_id: str) -> ExternalRecord:
        """Cancel now. DELETE takes no idempotency key, so a repeat (after a lost answer) finds it canceled."""
        path = f"{SPECS['subscription'].path}/{subscription_id}"
        try:
            return to_record("subscription", self.client.delete(path))
        except DataRejected:
            current = self.read("subscription", subscription_id)
            if current is None or current.fields.get("status") != "canceled":
                raise
            return current

    def change_plan(
        self, subscription_id: str, price_id: str, quantity: int | None = None, proration_behavior: str | None = None
    ) -> ExternalRecord:
        """Upgrade or downgrade: swap the first item's price (Stripe prorates unless told otherwise)."""
        fields: dict[str, Any] = {"plan_price": price_id}
        if quantity is not None:
            fields["quantity"] = quantity
        if proration_behavior is not None:
            fields["proration_behavior"] = proration_behavior
        return self.update("subscription", subscription_id, fields)

    # -- invoices ------------------------------------------------------------------------------------------
    def list_invoices(self, customer: str | None = None, status: str | None = None) -> list[ExternalRecord]:
        params: dict[str, FormValue] = {k: v for k, v in (("customer", customer), ("status", status)) if v}
        return [to_record("invoice", item) for page in self.client.list_pages("/v1/invoices", params)
                for item in page]

    def receivables(self, customer: str, now: datetime | None = None) -> Receivables:
        """Open and overdue amounts of `customer` (open invoices past their `due_date` are overdue)."""
        moment = (now or datetime.now(UTC)).timestamp()
        open_invoices = [r.fields for r in self.list_invoices(customer, "open")]
        overdue = [f for f in open_invoices if f.get("due_date") is not None and f["due_date"] < moment]
        currencies = {f.get("currency") for f in open_invoices}
        return Receivables(
            customer=customer,
            currency=next(iter(currencies)) if len(currencies) == 1 else None,
            open_amount=sum(int(f.get("amount_remaining") or 0) for f in open_invoices),
            overdue_amount=sum(int(f.get("amount_remaining") or 0) for f in overdue),
            open_invoices=len(open_invoices),
            overdue_invoices=len(overdue),
        )

    # -- change capture ------------------------------------------------------------------------------------
    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        """Incremental changes, oldest first. The cursor is opaque; its phases are

        - none: note the newest event of the object's types (the watermark), then list every object;
        - `list|WATERMARK|LAST_ID`: the listing continues after LAST_ID (lists run newest first);
        - `events|EVENT_ID`: events strictly after EVENT_ID (`ending_before`, since lists run newest first).

        Events are positioned by id rather than by `created`: `created` has one-second resolution, so
        `created[gt]` would lose same-second changes and `created[gte]` repeat them. Stripe keeps events
        for 30 days; a cursor whose event has aged out starts over with a full listing, the only
        consistent recovery. Several events of one record in a page collapse into the latest snapshot.
        """
        return _ChangeFeed(self.client, obj, _spec(obj)).page(cursor)

    def rate_keys(self) -> list[GovernedKey]:
        """`RateGoverned`: Stripe's separate read and write allowances."""
        return self.client.rate_keys()

    def close(self) -> None:
        self.client.close()

    # -- helpers -------------------------------------------------------------------------------------------
    def _current(self, obj: str, record_id: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """A subscription's current first item is needed to change its price or quantity."""
        if obj != "subscription" or not ({"plan_price", "quantity"} & set(fields)):
            return None
        found = self.read(obj, record_id)
        if found is None:
            raise NotFound(SYSTEM, f"subscription {record_id} does not exist")
        return found.fields

    def _native(self, obj: str, fields: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, FormValue]:
        """Stripe parameters for `fields`; derived subscription fields become `items[0]`."""
        params: dict[str, FormValue] = {}
        for name, value in fields.items():
            if name in _READ_ONLY:
                raise DataRejected(SYSTEM, f"{obj}.{name} is read-only", field=name, code="read_only")
            if name not in ("plan_price", "quantity"):
                params[name] = value
        if obj == "subscription" and {"plan_price", "quantity"} & set(fields):
            item: dict[str, FormValue] = {}
            if current is not None:
                first = (items_of(current) or [{}])[0]
                item["id"] = first.get("id")
            if "plan_price" in fields:
                item["price"] = fields["plan_price"]
            if "quantity" in fields:
                item["quantity"] = fields["quantity"]
            params["items"] = [item]
        return params


class _ChangeFeed:
    """One `changes_since` call for one object (see `StripeConnector.changes_since`)."""

    def __init__(self, client: StripeClient, obj: str, spec: ObjectSpec) -> None:
        self.client, self.obj, self.spec = client, obj, spec
        self.types: list[FormValue] = list(spec.event_types)

    def page(self, cursor: str | None) -> ChangePage:
        if not cursor:
            return self._start()
        phase, _, rest = cursor.partition("|")
        if phase == "list" and "|" in rest:
            watermark, _, after = rest.partition("|")
            return self._listing(watermark, after)
        if phase == "events":
            return self._events(rest)
        raise DataRejected(SYSTEM, f"malformed cursor {cursor!r}", field="cursor")

    def _start(self) -> ChangePage:
        newest = self.client.get("/v1/events", {"types": self.types, "limit": 1}).get("data") or []
        return self._listing(str(newest[0]["id"]) if newest else "", "")

    def _listing(self, watermark: str, after: str) -> ChangePage:
        params: dict[str, FormValue] = {**self.spec.list_params, "limit": self.client.config.page_size}
        if after:
            params["starting_after"] = after
        page = self.client.get(self.spec.path, params)
        data: list[StripeObject] = list(page.get("data") or [])
        records = [to_record(self.obj, item, modified=item.get("created")) for item in data]
        if page.get("has_more") and data:
            return ChangePage(records=records, cursor=f"list|{watermark}|{data[-1]['id']}", has_more=True)
        # Changes made while we listed are events after the watermark: read them next.
        return ChangePage(records=records, cursor=f"events|{watermark}", has_more=True)

    def _events(self, last: str) -> ChangePage:
        if not last:
            events, has_more = self._oldest_events()
        else:
            params: dict[str, FormValue] = {"types": self.types, "limit": self.client.config.page_size,
                                            "ending_before": last}
            try:
                page = self.client.get("/v1/events", params)
            except (NotFound, DataRejected) as exc:
                if isinstance(exc, DataRejected) and exc.field != "ending_before":
                    raise
                return self._start()
            events, has_more = list(reversed(page.get("data") or [])), bool(page.get("has_more"))
        latest: dict[str, ExternalRecord] = {}
        for event in events:
            record = record_from_event(event)
            if record is not None:
                latest.pop(record.id, None)
                latest[record.id] = record
        cursor = f"events|{events[-1]['id']}" if events else f"events|{last}"
        return ChangePage(records=list(latest.values()), cursor=cursor, has_more=has_more)

    def _oldest_events(self) -> tuple[list[StripeObject], bool]:
        """No event existed when the listing began: walk back to the first one (a short walk by nature)."""
        every = [event for page in self.client.list_pages("/v1/events", {"types": self.types}) for event in page]
        every.reverse()
        size = self.client.config.page_size
        return every[:size], len(every) > size


def _spec(obj: str) -> ObjectSpec:
    spec = SPECS.get(obj)
    if spec is None:
        raise DataRejected(SYSTEM, f"unknown object {obj!r}; known: {', '.join(OBJECTS)}", field="object")
    return spec


def _writable(obj: str) -> ObjectSpec:
    spec = _spec(obj)
    if not spec.writable:
        raise DataRejected(SYSTEM, f"{obj} records are written by Stripe Billing, not by Concord",
                           code="unsupported_operation")
    return spec
