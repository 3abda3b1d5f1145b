"""Stripe stamps events to the second (decision 079): a customer created and updated within one second, seen
by two polls, must end with the update; re-reading a page whose cursor was not saved replays it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, func, select

from concord.connectors.stripe import StripeConnector
from concord.delivery.capture import ChangeCapture
from concord.delivery.store import DeliveryStore
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.storage import tables as t
from tests.connectors.stripe.support import Twin, connector_for, running_twin

FROZEN = 1_765_000_100.0  # every twin object and event is created in this one second


@pytest.fixture(scope="module")
def frozen_twin() -> Iterator[Twin]:
    with running_twin(clock=lambda: FROZEN) as twin:
        yield twin


@pytest.fixture
def stripe(frozen_twin: Twin) -> Iterator[StripeConnector]:
    frozen_twin.runtime.reset()
    connector = connector_for(frozen_twin.url)
    yield connector
    connector.close()


def _golden_name(engine: Engine, customer: str) -> object:
    with engine.connect() as conn:
        cid = queries.canonical_for(conn, "default", "stripe", "billing_account", customer)
        record = queries.golden_record(conn, cid) if cid else None
    return None if record is None else record.value("name")


def _changes_of(engine: Engine, customer: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(t.change_log).where(t.change_log.c.external_id == customer)
        return int(conn.execute(query).scalar_one())


def test_update_in_the_same_second_as_the_create_wins(stripe: StripeConnector, ingest: IngestService,
                                                      engine: Engine) -> None:
    store = DeliveryStore(engine)
    capture = ChangeCapture(store, ingest)
    capture.start_from_now("stripe", stripe, "customer")
    customer = stripe.create("customer", {"name": "Before"}, idempotency_key="same-second-1").id
    first = capture.poll("stripe", stripe, "customer", "billing_account")
    assert (first.applied, first.refused) == (1, 0) and _golden_name(engine, customer) == "Before"
    stripe.update("customer", customer, {"name": "After"})  # same second: the event's `created` is equal
    second = capture.poll("stripe", stripe, "customer", "billing_account")
    assert (second.applied, second.replayed, second.refused) == (1, 0, 0)
    assert _golden_name(engine, customer) == "After"
    with engine.connect() as conn:
        stamps = [int(r[0]) for r in conn.execute(select(t.change_log.c.source_ts_us).where(
            t.change_log.c.external_id == customer).order_by(t.change_log.c.seq))]
    # the update is placed just after the create, and both stay inside the vendor's second
    assert stamps == [int(FROZEN * 1_000_000), int(FROZEN * 1_000_000) + 1]


def test_rereading_a_page_whose_cursor_was_not_saved_replays_it(stripe: StripeConnector, ingest: IngestService,
                                                                 engine: Engine) -> None:
    store = DeliveryStore(engine)
    capture = ChangeCapture(store, ingest)
    capture.start_from_now("stripe", stripe, "customer")
    customer = stripe.create("customer", {"name": "Before"}, idempotency_key="same-second-2").id
    capture.poll("stripe", stripe, "customer", "billing_account")
    before = store.cursor("default", "stripe", "customer")
    marks = store.capture_marks("default", "stripe", "customer", [customer])
    stripe.update("customer", customer, {"name": "After"})
    assert capture.poll("stripe", stripe, "customer", "billing_account").applied == 1
    # as if the process died after ingest acknowledged the page but before the cursor (and marks) were saved
    with engine.begin() as conn:
        conn.execute(delete(t.capture_marks))
    store.save_cursor("default", "stripe", "customer", before, marks)
    again = capture.poll("stripe", stripe, "customer", "billing_account")
    assert (again.applied, again.replayed, again.refused) == (0, 1, 0)
    assert _changes_of(engine, customer) == 2 and _golden_name(engine, customer) == "After"
