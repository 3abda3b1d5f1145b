"""The Stripe twin, driven by the official `stripe` library (proof of wire fidelity) and by raw httpx."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import stripe
from fastapi import FastAPI, Request, Response

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.stripe import StripeTwinSettings, WebhookSignatureError, create_app, sign_payload, verify_signature
from concord.sandbox.stripe.forms import parse_pairs
from concord.sandbox.stripe.runtime import StripeTwin

API_KEY = "sk_test_51ConcordTwinKey0000000000000000abcd"


@dataclass
class OffsetClock:
    """Real time plus a settable offset: signatures stay fresh for the library, yet tests can jump ahead."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Receiver:
    """A webhook endpoint that records what it gets and fails the first `fail_first` deliveries."""

    handle: ServerHandle
    received: queue.Queue[tuple[dict[str, str], bytes]] = field(default_factory=queue.Queue)
    fail_first: int = 0

    @property
    def url(self) -> str:
        return f"{self.handle.base_url}/hook"

    def drain(self) -> list[tuple[dict[str, str], bytes]]:
        items = []
        while not self.received.empty():
            items.append(self.received.get_nowait())
        return items


@dataclass
class Twin:
    handle: ServerHandle
    runtime: StripeTwin
    clock: OffsetClock

    @property
    def url(self) -> str:
        return self.handle.base_url


def _start_twin(**overrides: object) -> Twin:
    clock = OffsetClock()
    settings = StripeTwinSettings.model_validate({"api_key": API_KEY, "clock": clock, **overrides})
    app = create_app(settings)
    return Twin(serve_in_thread(app), app.state.twin, clock)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    app = FastAPI()
    holder: list[Receiver] = []

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        target = holder[0]
        if target.fail_first > 0:
            target.fail_first -= 1
            return Response(status_code=500)
        target.received.put((dict(request.headers), await request.body()))
        return Response(status_code=200)

    handle = serve_in_thread(app)
    holder.append(Receiver(handle))
    yield holder[0]
    handle.stop()


@pytest.fixture(scope="module")
def shared_twin() -> Iterator[Twin]:
    twin = _start_twin(rate_limit_per_second=10_000, webhook_sync=True, webhook_retry_base_s=0.0)
    yield twin
    twin.runtime.close()
    twin.handle.stop()


@pytest.fixture
def twin(shared_twin: Twin, receiver: Receiver) -> Twin:
    shared_twin.runtime.reset()
    shared_twin.clock.offset = 0.0
    receiver.drain()
    receiver.fail_first = 0
    return shared_twin


@pytest.fixture
def client(twin: Twin) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": twin.url}, max_network_retries=0)


def _plan(client: stripe.StripeClient, amount: int, name: str = "Concord Plan") -> str:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "product_data": {"name": name},
        }
    )
    return price.id


def _customer(client: stripe.StripeClient, payment_method: str | None = "pm_card_visa") -> str:
    params: dict[str, object] = {"email": "ada@example.com", "name": "Ada"}
    if payment_method:
        params["invoice_settings"] = {"default_payment_method": payment_method}
    return client.v1.customers.create(params=params).id  # type: ignore[arg-type]


def _error_body(error: stripe.StripeError) -> dict[str, object]:
    body = error.json_body
    assert isinstance(body, dict) and isinstance(body["error"], dict)
    return body["error"]


def _event_types(client: stripe.StripeClient) -> list[str]:
    return [str(event.type) for event in client.v1.events.list(params={"limit": 100}).data][::-1]


# --- customers -----------------------------------------------------------------------------------------------


def test_customer_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(
        params={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {"city": "London", "country": "GB", "line1": "12 St James's Sq"},
            "metadata": {"concord_id": "c-1", "tier": "gold"},
            "tax_exempt": "none",
        }
    )
    assert created.id.startswith("cus_") and created.object == "customer" and created.livemode is False
    assert created.address is not None and created.address.city == "London" and created.address.postal_code is None
    assert (
        isinstance(created.created, int)
        and created.metadata is not None
        and created.metadata.to_dict() == {"concord_id": "c-1", "tier": "gold"}
    )

    updated = client.v1.customers.update(created.id, params={"phone": "+44 20 0000", "metadata": {"tier": ""}})
    assert (
        updated.phone == "+44 20 0000"
        and updated.metadata is not None
        and updated.metadata.to_dict() == {"concord_id": "c-1"}
    )
    assert client.v1.customers.retrieve(created.id).phone == "+44 20 0000"

    deleted = client.v1.customers.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    assert client.v1.customers.retrieve(created.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.delete(created.id)
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert str(missing.value.user_message) == f"No such customer: '{created.id}'"


def test_customer_list_pages_newest_first(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"name": f"n{i}"}).id for i in range(7)]
    newest_first = ids[::-1]
    first = client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in first.data] == newest_first[:3] and first.has_more is True and first.url == "/v1/customers"
    second = client.v1.customers.list(params={"limit": 3, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == newest_first[3:6] and second.has_more is True
    back = client.v1.customers.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == newest_first[1:3] and back.has_more is True
    assert [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()] == newest_first
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.customers.list(params={"limit": 101})
    assert too_many.value.param == "limit"


def test_customer_search_by_metadata_and_email_with_paging(client: stripe.StripeClient) -> None:
    for i in range(3):
        client.v1.customers.create(params={"email": f"u{i}@example.com", "metadata": {"concord_id": f"c-{i}"}})
    hit = client.v1.customers.search(params={"query": "metadata['concord_id']:'c-1'"})
    assert hit["object"] == "search_result" and [c.email for c in hit.data] == ["u1@example.com"]
    by_email = client.v1.customers.search(params={"query": "email:'U2@example.com'"})  # exact, case-insensitive
    assert [c.email for c in by_email] == ["u2@example.com"]
    page = client.v1.customers.search(params={"query": "email~'example'", "limit": 2})
    assert page.has_more is True and page.next_page
    rest = client.v1.customers.search(params={"query": "email~'example'", "limit": 2, "page": page.next_page})
    assert len(rest.data) == 1 and rest.has_more is False and rest.next_page is None
    everything = client.v1.customers.search(params={"query": "email~'example'", "limit": 1}).auto_paging_iter()
    assert sorted(c.email for c in everything) == ["u0@example.com", "u1@example.com", "u2@example.com"]
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.customers.search(params={"query": "shoe_size:'42'"})
    assert bad.value.param == "query" and "unsupported search field" in str(bad.value.user_message)


# --- errors, auth, rate limits, headers ----------------------------------------------------------------------


def test_parameter_errors_have_stripe_codes_and_params(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"nickname": "x"})  # type: ignore[arg-type]
    assert (unknown.value.param, unknown.value.code) == ("nickname", "parameter_unknown")
    assert unknown.value.user_message == "Received unknown parameter: nickname"
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.customers.create(params={"address": {"zip": "1"}})  # type: ignore[arg-type]
    assert nested.value.param == "address[zip]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.create(params={"items": [{"price": "price_x"}]})
    assert (missing.value.param, missing.value.code) == ("customer", "parameter_missing")
    with pytest.raises(stripe.InvalidRequestError) as not_found:
        client.v1.invoices.retrieve("in_missing")
    assert not_found.value.http_status == 404 and not_found.value.param == "id"
    assert _error_body(not_found.value)["doc_url"] == "https://stripe.com/docs/error-codes/resource-missing"


def test_wrong_or_missing_key_is_an_authentication_error(twin: Twin) -> None:
    wrong = stripe.StripeClient("sk_test_wrongwrongwrong1234", base_addresses={"api": twin.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError) as err:
        wrong.v1.customers.list()
    assert err.value.http_status == 401 and "Invalid API Key provided: sk_test_" in str(err.value.user_message)
    assert "wrongwrong" not in str(err.value.user_message) and str(err.value.user_message).endswith("1234")
    raw = httpx.get(f"{twin.url}/v1/customers")
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "invalid_request_error"
    assert raw.headers["WWW-Authenticate"] == 'Basic realm="Stripe"'
    assert httpx.get(f"{twin.url}/v1/customers", auth=(API_KEY, "")).status_code == 200


def test_rate_limit_raises_rate_limit_error_and_recovers() -> None:
    limited = _start_twin(rate_limit_per_second=3)
    frozen = time.time()
    limited.runtime.read_limiter.clock = limited.runtime.write_limiter.clock = lambda: frozen + limited.clock.offset
    try:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": limited.url}, max_network_retries=0)
        for _ in range(3):
            client.v1.customers.list()
        with pytest.raises(stripe.RateLimitError) as err:
            client.v1.customers.list()
        assert err.value.http_status == 429
        assert _error_body(err.value)["type"] == "invalid_request_error"
        assert _error_body(err.value)["code"] == "rate_limit"
        client.v1.customers.create()  # writes have their own allowance
        limited.clock.offset = 1.0
        assert client.v1.customers.list()["object"] == "list"
    finally:
        limited.handle.stop()
        limited.runtime.close()
    assert StripeTwinSettings().rate_limit_per_second == 25


def test_every_response_has_request_id_and_version_headers(twin: Twin) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Stripe-Version": "2024-06-20"}
    ok = httpx.post(f"{twin.url}/v1/customers", data={"metadata[concord_id]": "c-9"}, headers=headers)
    assert ok.status_code == 200 and ok.headers["Request-Id"].startswith("req_")
    assert ok.headers["Stripe-Version"] == "2024-06-20" and ok.json()["metadata"] == {"concord_id": "c-9"}
    other = httpx.get(f"{twin.url}/v1/nothing", headers=headers)
    assert other.status_code == 404 and other.headers["Request-Id"] != ok.headers["Request-Id"]
    assert other.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing)")


# --- idempotency ---------------------------------------------------------------------------------------------


def test_idempotent_replay_returns_the_stored_response(client: stripe.StripeClient, twin: Twin) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "create-ada-1"}
    first = client.v1.customers.create(params={"email": "ada@example.com"}, options=options)
    again = client.v1.customers.create(params={"email": "ada@example.com"}, options=options)
    assert again.id == first.id
    assert first.last_response is not None and "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response is not None and again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    assert twin.runtime.store.counts()["customer"] == 1 and _event_types(client) == ["customer.created"]
    event = client.v1.events.list().data[0]
    assert event.request is not None and event.request.idempotency_key == "create-ada-1"


def test_idempotency_key_reused_with_other_parameters_or_endpoint(client: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "key-1"}
    client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as other_params:
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)
    assert other_params.value.http_status == 400 and "same parameters" in str(other_params.value.user_message)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.products.create(params={"name": "x"}, options=options)


def test_idempotency_keys_expire_after_24_hours(client: stripe.StripeClient, twin: Twin) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "daily"}
    first = client.v1.customers.create(params={"name": "x"}, options=options)
    twin.clock.offset = 24 * 3600 - 5
    assert client.v1.customers.create(params={"name": "x"}, options=options).id == first.id
    twin.clock.offset = 24 * 3600 + 1
    assert client.v1.customers.create(params={"name": "x"}, options=options).id != first.id


def test_rejected_parameters_are_not_saved_under_the_key(client: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "fix-and-retry"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"bogus": "1"}, options=options)  # type: ignore[arg-type]
    assert client.v1.customers.create(params={"name": "ok"}, options=options).name == "ok"


# --- subscriptions and invoices ------------------------------------------------------------------------------


def test_subscription_creates_a_paid_invoice_and_upgrades_with_proration(client: stripe.StripeClient) -> None:
    basic, pro = _plan(client, 1000, "Basic"), _plan(client, 3000, "Pro")
    customer = _customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": basic, "quantity": 2}], "metadata": {"concord_id": "s-1"}}
    )
    assert sub.id.startswith("sub_") and sub.status == "active" and sub.items.data[0].id.startswith("si_")
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.id.startswith("in_") and invoice.status == "paid"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (2000, 2000, 0)
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert (
        invoice.parent.subscription_details.subscription == sub.id and invoice.billing_reason == "subscription_create"
    )

    item = sub.items.data[0].id
    upgraded = client.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item, "price": pro}], "proration_behavior": "always_invoice"}
    )
    assert upgraded.items.data[0].id == item and upgraded.items.data[0].price.id == pro
    proration = client.v1.invoices.retrieve(str(upgraded.latest_invoice))
    assert proration.billing_reason == "subscription_update" and proration.status == "paid"
    assert 3990 <= proration.amount_due <= 4000  # (3000 - 1000) x 2 for nearly the whole period
    listed = client.v1.invoices.list(params={"subscription": sub.id})
    assert {inv.id for inv in listed.data} == {invoice.id, proration.id}
    update_event = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    previous = update_event.data.previous_attributes
    assert previous is not None and previous["items"]["data"][0]["price"]["id"] == basic

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    assert client.v1.subscriptions.list(params={"customer": customer}).data == []
    assert [s.id for s in client.v1.subscriptions.list(params={"customer": customer, "status": "canceled"})] == [sub.id]
    assert _event_types(client)[-1] == "customer.subscription.deleted"


def test_subscription_without_payment_method_is_incomplete_until_paid(client: stripe.StripeClient) -> None:
    price, customer = _plan(client, 1500), _customer(client, payment_method=None)
    sub = client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": price}]})
    assert sub.status == "incomplete"
    invoice = client.v1.invoices.list(params={"customer": customer, "status": "open"}).data[0]
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and paid.status_transitions.paid_at is not None
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id)


def test_declined_card_fails_payment_with_a_card_error(client: stripe.StripeClient) -> None:
    price, customer = _plan(client, 1500), _customer(client, payment_method="pm_card_chargeDeclined")
    sub = client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": price}]})
    assert sub.status == "incomplete"
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(str(sub.latest_invoice))
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert client.v1.invoices.retrieve(str(sub.latest_invoice)).attempt_count == 2
    assert _event_types(client).count("invoice.payment_failed") == 2


def test_send_invoice_goes_overdue_then_paid_out_of_band(client: stripe.StripeClient, twin: Twin) -> None:
    price, customer = _plan(client, 5000), _customer(client, payment_method=None)
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price}],
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert sub.status == "active" and invoice.status == "open" and invoice.number is not None
    assert invoice.due_date is not None and abs(invoice.due_date - (invoice.created + 7 * 86400)) <= 1
    overdue = httpx.post(f"{twin.url}/__twin__/invoices/{invoice.id}/mark_overdue")
    assert overdue.status_code == 200 and overdue.json()["due_date"] < time.time()
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert client.v1.customers.retrieve(customer).delinquent is True
    assert "invoice.overdue" in _event_types(client)
    client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert client.v1.customers.retrieve(customer).delinquent is False


def test_trial_then_renewal_that_fails_goes_past_due(client: stripe.StripeClient, twin: Twin) -> None:
    price, customer = _plan(client, 900), _customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": price}], "trial_period_days": 14}
    )
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert sub.status == "trialing" and sub.trial_end is not None and (first.amount_due, first.status) == (0, "paid")
    renewal = httpx.post(f"{twin.url}/__twin__/subscriptions/{sub.id}/advance").json()
    assert renewal["subscription"]["status"] == "active" and renewal["invoice"]["amount_paid"] == 900
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    )
    failed = httpx.post(f"{twin.url}/__twin__/subscriptions/{sub.id}/advance").json()
    assert failed["invoice"]["status"] == "open" and failed["subscription"]["status"] == "past_due"
    assert client.v1.invoices.list(params={"status": "open"}).data[0].id == failed["invoice"]["id"]


def test_expand_replaces_ids_with_objects(client: stripe.StripeClient) -> None:
    price, customer = _plan(client, 700), _customer(client)
    sub = client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": price}]})
    expanded = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice", "customer"]})
    assert isinstance(expanded.latest_invoice, stripe.Invoice) and expanded.latest_invoice.status == "paid"
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.id == customer
    listed = client.v1.invoices.list(params={"expand": ["data.customer"]})
    assert isinstance(listed.data[0].customer, stripe.Customer)


def test_invoice_void_uncollectible_and_search(client: stripe.StripeClient) -> None:
    price, customer = _plan(client, 400), _customer(client, payment_method=None)
    params: dict[str, object] = {"customer": customer, "items": [{"price": price}], "collection_method": "send_invoice"}
    first = client.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    second = client.v1.subscriptions.create(params={**params, "items": [{"price": _plan(client, 500)}]})  # type: ignore[arg-type]
    voided = client.v1.invoices.void_invoice(str(first.latest_invoice))
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    lost = client.v1.invoices.mark_uncollectible(str(second.latest_invoice))
    assert lost.status == "uncollectible"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(str(first.latest_invoice))
    found = client.v1.invoices.search(params={"query": f"customer:'{customer}' AND status:'void'"})
    assert [inv.id for inv in found.data] == [voided.id]
    active = client.v1.subscriptions.search(params={"query": "status:'active'"})
    assert {sub.id for sub in active.data} == {first.id, second.id}


def test_deleting_a_customer_cancels_their_subscriptions(client: stripe.StripeClient) -> None:
    customer = _customer(client)
    sub = client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": _plan(client, 100)}]})
    client.v1.customers.delete(customer)
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert _event_types(client)[-2:] == ["customer.subscription.deleted", "customer.deleted"]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.subscriptions.create(params={"customer": customer, "items": [{"price": _plan(client, 100)}]})
    assert gone.value.http_status == 400 and gone.value.param == "customer"


# --- webhooks ------------------------------------------------------------------------------------------------


def _endpoint(client: stripe.StripeClient, receiver: Receiver, events: list[str]) -> str:
    params = {"url": receiver.url, "enabled_events": events}
    endpoint = client.v1.webhook_endpoints.create(params=params)  # type: ignore[arg-type]
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_") and endpoint.id.startswith("we_")
    assert getattr(client.v1.webhook_endpoints.retrieve(endpoint.id), "secret", None) is None
    return endpoint.secret


def test_webhooks_verify_with_the_official_library(client: stripe.StripeClient, receiver: Receiver) -> None:
    secret = _endpoint(client, receiver, ["customer.created", "customer.updated"])
    customer = client.v1.customers.create(params={"email": "hook@example.com"})
    client.v1.customers.update(customer.id, params={"name": "Hook"})
    deliveries = receiver.drain()
    assert len(deliveries) == 2
    headers, body = deliveries[0]
    event = stripe.Webhook.construct_event(body, headers["stripe-signature"], secret)
    assert event.type == "customer.created" and event.data.object["id"] == customer.id
    assert client.v1.events.retrieve(event.id).data.object["email"] == "hook@example.com"
    updated = stripe.Webhook.construct_event(deliveries[1][1], deliveries[1][0]["stripe-signature"], secret)
    assert updated.data.previous_attributes is not None and updated.data.previous_attributes.to_dict() == {"name": None}
    assert verify_signature(body, headers["stripe-signature"], secret) > 0


def test_tampered_or_stale_webhooks_are_rejected(client: stripe.StripeClient, receiver: Receiver) -> None:
    secret = _endpoint(client, receiver, ["*"])
    client.v1.customers.create(params={"email": "x@example.com"})
    headers, body = receiver.drain()[0]
    tampered = body.replace(b"x@example.com", b"y@example.com")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["stripe-signature"], secret)
    stale = sign_payload(secret, body, int(time.time()) - 600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, stale, secret)
    for bad_header, payload, reason in [
        (headers["stripe-signature"], tampered, "mismatch"),
        (stale, body, "stale"),
        ("v1=abc", body, "malformed"),
        (None, body, "missing"),
    ]:
        with pytest.raises(WebhookSignatureError) as err:
            verify_signature(payload, bad_header, secret, tolerance_s=300, now=time.time())
        assert err.value.reason == reason
    generated = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, 1_700_000_000)
    assert verify_signature(body, generated, secret, now=1_700_000_100) == 1_700_000_000
    rolled = sign_payload("whsec_old", body, 1_700_000_000) + "," + generated.split(",")[1]
    assert verify_signature(body, rolled, secret, now=1_700_000_000) == 1_700_000_000  # any v1 may match


def test_failed_deliveries_are_retried_and_can_be_redelivered(
    client: stripe.StripeClient, receiver: Receiver, twin: Twin
) -> None:
    secret = _endpoint(client, receiver, ["invoice.paid"])
    receiver.fail_first = 1
    client.v1.customers.create(params={"email": "only-invoices@example.com"})  # not subscribed: not sent
    sub = client.v1.subscriptions.create(
        params={"customer": _customer(client), "items": [{"price": _plan(client, 100)}]}
    )
    got = receiver.drain()
    assert len(got) == 1
    event = stripe.Webhook.construct_event(got[0][1], got[0][0]["stripe-signature"], secret)
    assert event.type == "invoice.paid" and event.data.object["id"] == sub.latest_invoice
    log = httpx.get(f"{twin.url}/__twin__/deliveries").json()["deliveries"]
    assert [(d["attempts"], d["last_status"], d["delivered"]) for d in log] == [(2, 200, True)]
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0
    httpx.post(f"{twin.url}/__twin__/events/{event.id}/redeliver")
    again = receiver.drain()
    assert len(again) == 1 and json.loads(again[0][1])["id"] == event.id


def test_webhook_endpoint_rejects_unknown_event_types(client: stripe.StripeClient, receiver: Receiver) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        _endpoint(client, receiver, ["customer.created", "customer.exploded"])
    assert err.value.param == "enabled_events[1]"


def test_background_delivery_thread_delivers(receiver: Receiver) -> None:
    background = _start_twin(webhook_sync=False)
    try:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": background.url}, max_network_retries=0)
        secret = _endpoint(client, receiver, ["customer.created"])
        client.v1.customers.create(params={"name": "async"})
        headers, body = receiver.received.get(timeout=5)
        assert stripe.Webhook.construct_event(body, headers["stripe-signature"], secret).type == "customer.created"
    finally:
        background.runtime.close()
        background.handle.stop()


# --- admin and form parsing ----------------------------------------------------------------------------------


def test_admin_counts_and_reset(client: stripe.StripeClient, twin: Twin) -> None:
    _customer(client)
    counts = httpx.get(f"{twin.url}/__twin__/counts").json()
    assert counts["customer"] == 1 and counts["event"] == 1
    assert httpx.post(f"{twin.url}/__twin__/reset").status_code == 200
    assert client.v1.customers.list().data == []


def test_bracket_notation_parses_into_nested_values() -> None:
    parsed = parse_pairs(
        [("items[0][price]", "p1"), ("items[1][price]", "p2"), ("items[1][quantity]", "3"), ("expand[]", "a"),
         ("expand[]", "b"), ("metadata[0]", "zero"), ("address[city]", "Paris")]
    )  # fmt: skip
    assert parsed == {
        "items": [{"price": "p1"}, {"price": "p2", "quantity": "3"}],
        "expand": ["a", "b"],
        "metadata": {"0": "zero"},
        "address": {"city": "Paris"},
    }
