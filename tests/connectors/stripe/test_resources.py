"""StripeConnector against the Stripe twin: customers, subscriptions, invoices and change capture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from concord.connectors.base import AuthError, Connector, DataRejected, ExternalRecord
from concord.connectors.stripe import API_VERSION, StripeConnector
from tests.connectors.stripe.support import Twin, connector_for, running_twin


@pytest.fixture(scope="module")
def shared_twin() -> Iterator[Twin]:
    with running_twin() as twin:
        yield twin


@pytest.fixture
def twin(shared_twin: Twin) -> Twin:
    shared_twin.runtime.reset()
    return shared_twin


@pytest.fixture
def stripe(twin: Twin) -> Iterator[StripeConnector]:
    connector = connector_for(twin.url)
    yield connector
    connector.close()


def _customer(stripe: StripeConnector, n: int, **extra: object) -> ExternalRecord:
    fields = {"name": f"Customer {n}", "email": f"ap{n}@example.com", "metadata": {"concord_id": f"c-{n}"}, **extra}
    return stripe.create("customer", fields, idempotency_key=f"cust-{n}")


def _price(stripe: StripeConnector, amount: int, interval: str = "month") -> str:
    body = stripe.client.post("/v1/prices", {"currency": "eur", "unit_amount": amount,
                                             "recurring": {"interval": interval}, "product_data": {"name": "Plan"}},
                              idempotency_key=f"price-{amount}-{interval}").body
    return str(body["id"])


def _updated_events(twin: Twin, customer_id: str) -> int:
    return sum(1 for e in twin.runtime.store.newest_first("event")
               if e["type"] == "customer.updated" and e["data"]["object"]["id"] == customer_id)


# -- customers ------------------------------------------------------------------------------------------------


def test_capabilities(stripe: StripeConnector) -> None:
    assert isinstance(stripe, Connector)
    caps = stripe.capabilities
    assert caps.objects == ("customer", "subscription", "invoice") and caps.bulk_batch_size == 1
    assert (caps.upsert_by_external_id, caps.idempotency_header, caps.webhooks, caps.cursor_field) == (
        False, "Idempotency-Key", True, "created")
    assert connector_for("http://x", rate_limit=None).capabilities.rate_limit.requests == 25  # type: ignore[union-attr]


def test_a_wrong_key_is_an_auth_error_that_shows_only_the_masked_key(twin: Twin) -> None:
    wrong = "sk_test_51WrongKey000000000000000000000000000000zzzz"
    connector = connector_for(twin.url, api_key=wrong)
    with pytest.raises(AuthError) as refused:
        connector.read("customer", "cus_Abc1234567890")
    connector.close()
    assert wrong not in str(refused.value) and "zzzz" in str(refused.value)  # Stripe's mask keeps the last 4


def test_the_pinned_version_is_sent(twin: Twin, stripe: StripeConnector) -> None:
    response = httpx.get(f"{twin.url}/v1/customers", headers=stripe.client.auth.headers())
    assert response.headers["Stripe-Version"] == API_VERSION == stripe.config.api_version


def test_customer_record_shape_and_nested_writes(stripe: StripeConnector) -> None:
    created = _customer(stripe, 1, address={"line1": "Unter den Linden 1", "city": "Berlin", "country": "DE"},
                        preferred_locales=["de", "en"])
    read = stripe.read("customer", created.id)
    assert read is not None and read.fields == created.fields
    assert read.fields["address"] == {"city": "Berlin", "country": "DE", "line1": "Unter den Linden 1",
                                      "line2": None, "postal_code": None, "state": None}
    assert read.fields["preferred_locales"] == ["de", "en"]
    assert "business_name" not in read.fields and "test_clock" not in read.fields  # projected to the mapping
    cleared = stripe.update("customer", created.id, {"metadata": {"concord_id": None, "tier": "gold"},
                                                     "preferred_locales": []})
    assert cleared.fields["metadata"] == {"tier": "gold"} and cleared.fields["preferred_locales"] == []


def test_search_by_list_filter_search_language_and_id(stripe: StripeConnector) -> None:
    first, second = _customer(stripe, 1), _customer(stripe, 2, name="Zebra O'Neil")
    assert [r.id for r in stripe.search("customer", {"email": "ap1@example.com"})] == [first.id]
    assert [r.id for r in stripe.search("customer", {"name": "Zebra O'Neil"})] == [second.id]
    assert [r.id for r in stripe.search("customer", {"concord_id": "c-2"})] == [second.id]
    assert [r.id for r in stripe.search("customer", {"id": first.id})] == [first.id]
    assert len(stripe.search("customer", {"metadata.concord_id": "c-1", "email": "ap1@example.com"})) == 1
    with pytest.raises(DataRejected) as refused:
        stripe.search("customer", {"balance": 0})
    assert refused.value.field == "balance"


def test_deleted_customers_read_as_deleted(stripe: StripeConnector) -> None:
    created = _customer(stripe, 1)
    stripe.client.delete(f"/v1/customers/{created.id}")
    gone = stripe.read("customer", created.id)
    assert gone is not None and gone.deleted and gone.fields["deleted"] is True
    assert stripe.read("customer", "cus_DoesNotExist1") is None


def test_update_keys_are_derived_yet_a_change_back_is_applied(twin: Twin, stripe: StripeConnector) -> None:
    created = _customer(stripe, 1, name="A")
    for name in ("B", "A", "B"):  # A → B → A → B within Stripe's 24 h key window
        assert stripe.update("customer", created.id, {"name": name}).fields["name"] == name
        read = stripe.read("customer", created.id)
        assert read is not None and read.fields["name"] == name
    assert _updated_events(twin, created.id) == 3


def test_update_with_the_callers_key_applies_once(twin: Twin, stripe: StripeConnector) -> None:
    created = _customer(stripe, 1)
    stripe.update("customer", created.id, {"name": "Once"}, idempotency_key="cmd-7")
    stripe.update("customer", created.id, {"name": "Once"}, idempotency_key="cmd-7")
    assert _updated_events(twin, created.id) == 1


def test_refusals_name_the_field(stripe: StripeConnector) -> None:
    created = _customer(stripe, 1)
    with pytest.raises(DataRejected) as read_only:
        stripe.update("customer", created.id, {"status": "active"})
    assert (read_only.value.field, read_only.value.code) == ("status", "read_only")
    with pytest.raises(DataRejected) as nested:
        stripe.create("customer", {"address": {"planet": "Mars"}}, idempotency_key="bad-address")
    assert nested.value.field == "address[planet]" and nested.value.code == "parameter_unknown"
    with pytest.raises(DataRejected) as unsupported:
        stripe.create("invoice", {"customer": created.id}, idempotency_key="inv-1")
    assert unsupported.value.code == "unsupported_operation"
    with pytest.raises(DataRejected):
        stripe.read("charge", "ch_1")


def test_upsert_finds_or_creates_by_metadata(stripe: StripeConnector) -> None:
    first = stripe.upsert("customer", "concord_id", "ext-9", {"name": "Upserted", "metadata": {"concord_id": "ext-9"}})
    second = stripe.upsert("customer", "concord_id", "ext-9", {"name": "Upserted again"})
    assert first.id == second.id and second.fields["name"] == "Upserted again"


# -- subscriptions and invoices -------------------------------------------------------------------------------


def test_subscription_lifecycle_upgrade_and_cancel(twin: Twin, stripe: StripeConnector) -> None:
    customer = _customer(stripe, 1, invoice_settings={"default_payment_method": "pm_card_visa"})
    basic, pro = _price(stripe, 1000), _price(stripe, 24000, "year")
    sub = stripe.create("subscription", {"customer": customer.id, "plan_price": basic, "quantity": 3,
                                         "metadata": {"concord_id": "s-1"}}, idempotency_key="sub-1")
    assert (sub.fields["status"], sub.fields["plan_price"], sub.fields["quantity"]) == ("active", basic, 3)
    assert sub.fields["monthly_amount_cents"] == 3000 and sub.fields["current_period_end"] > sub.fields["created"]
    item_id = sub.fields["items"]["data"][0]["id"]

    upgraded = stripe.change_plan(sub.id, pro, quantity=1, proration_behavior="none")
    assert (upgraded.fields["plan_price"], upgraded.fields["quantity"]) == (pro, 1)
    assert upgraded.fields["monthly_amount_cents"] == 2000  # 240.00 a year
    assert [item["id"] for item in upgraded.fields["items"]["data"]] == [item_id]  # swapped, not added

    canceled = stripe.cancel_subscription(sub.id)
    assert canceled.fields["status"] == "canceled"
    assert stripe.cancel_subscription(sub.id).fields["status"] == "canceled"  # a repeat is harmless
    assert [r.id for r in stripe.search("subscription", {"customer": customer.id})] == [sub.id]
    assert [r.id for r in stripe.search("subscription", {"concord_id": "s-1"})] == [sub.id]


def test_invoices_and_receivables(twin: Twin, stripe: StripeConnector) -> None:
    customer = _customer(stripe, 1)
    sub = stripe.create("subscription", {"customer": customer.id, "plan_price": _price(stripe, 5000), "quantity": 2,
                                         "collection_method": "send_invoice", "days_until_due": 14},
                        idempotency_key="sub-invoiced")
    (invoice,) = stripe.list_invoices(customer=customer.id)
    assert invoice.fields["subscription"] == sub.id and invoice.fields["status"] == "open"
    assert stripe.read("invoice", invoice.id) == invoice
    assert [r.id for r in stripe.search("invoice", {"customer": customer.id, "status": "open"})] == [invoice.id]

    fresh = stripe.receivables(customer.id)
    assert (fresh.open_amount, fresh.overdue_amount, fresh.open_invoices, fresh.currency) == (10000, 0, 1, "eur")
    httpx.post(f"{twin.url}/__twin__/invoices/{invoice.id}/mark_overdue").raise_for_status()
    late = stripe.receivables(customer.id, now=datetime.now(UTC))
    assert (late.overdue_amount, late.overdue_invoices) == (10000, 1)


# -- change capture -------------------------------------------------------------------------------------------


def _drain(stripe: StripeConnector, obj: str, cursor: str | None) -> tuple[list[ExternalRecord], str | None]:
    records: list[ExternalRecord] = []
    for _ in range(50):
        page = stripe.changes_since(obj, cursor)
        records.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            return records, cursor
    raise AssertionError("change feed did not settle")


def test_full_listing_then_events_in_order(twin: Twin) -> None:
    stripe = connector_for(twin.url, page_size=2)
    existing = [_customer(stripe, n) for n in range(5)]
    records, cursor = _drain(stripe, "customer", None)
    assert sorted(r.id for r in records) == sorted(r.id for r in existing)
    assert all(r.modified_at is not None for r in records)

    later = [_customer(stripe, n) for n in range(5, 8)]
    stripe.update("customer", existing[0].id, {"name": "Renamed"})
    stripe.update("customer", existing[0].id, {"name": "Renamed twice"})
    stripe.client.delete(f"/v1/customers/{existing[1].id}")
    changes, cursor = _drain(stripe, "customer", cursor)
    latest = {r.id: r for r in changes}  # applied in order, the last snapshot of each record wins
    assert list(latest) == [*(r.id for r in later), existing[0].id, existing[1].id]
    assert latest[existing[0].id].fields["name"] == "Renamed twice"
    assert latest[existing[1].id].deleted
    assert _drain(stripe, "customer", cursor)[0] == []
    stripe.close()

    roomy = connector_for(twin.url)  # one page holds both events: they collapse into the latest snapshot
    roomy.update("customer", existing[2].id, {"name": "Third"})
    roomy.update("customer", existing[2].id, {"name": "Fourth"})
    collapsed, _ = _drain(roomy, "customer", cursor)
    assert [(r.id, r.fields["name"]) for r in collapsed] == [(existing[2].id, "Fourth")]
    roomy.close()


def test_changes_made_during_the_listing_are_not_lost(twin: Twin) -> None:
    stripe = connector_for(twin.url, page_size=2)
    existing = [_customer(stripe, n) for n in range(4)]
    first = stripe.changes_since("customer", None)
    newcomer = _customer(stripe, 99)  # lists run newest first, so the listing itself cannot see it
    records, _ = _drain(stripe, "customer", first.cursor)
    seen = {r.id for r in [*first.records, *records]}
    assert seen == {r.id for r in existing} | {newcomer.id}
    stripe.close()


def test_feed_over_an_empty_account_and_an_expired_cursor(twin: Twin, stripe: StripeConnector) -> None:
    records, cursor = _drain(stripe, "customer", None)
    assert records == [] and cursor == "events|"
    created = [_customer(stripe, n) for n in range(3)]
    changes, cursor = _drain(stripe, "customer", cursor)
    assert [r.id for r in changes] == [r.id for r in created]
    # An event older than Stripe's 30-day retention is gone: start over with a full listing.
    relisted, _ = _drain(stripe, "customer", "events|evt_AgedOut0000000000000000")
    assert sorted(r.id for r in relisted) == sorted(r.id for r in created)
    with pytest.raises(DataRejected) as malformed:
        stripe.changes_since("customer", "yesterday")
    assert malformed.value.field == "cursor"


def test_subscription_feed_reports_cancellations(twin: Twin, stripe: StripeConnector) -> None:
    customer = _customer(stripe, 1, invoice_settings={"default_payment_method": "pm_card_visa"})
    _, cursor = _drain(stripe, "subscription", None)
    sub = stripe.create("subscription", {"customer": customer.id, "plan_price": _price(stripe, 900)},
                        idempotency_key="sub-feed")
    stripe.cancel_subscription(sub.id)
    changes, _ = _drain(stripe, "subscription", cursor)
    assert [(r.id, r.fields["status"], r.deleted) for r in changes] == [(sub.id, "canceled", False)]
