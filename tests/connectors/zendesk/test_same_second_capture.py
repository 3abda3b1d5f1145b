"""Zendesk stamps `updated_at` to the second (decision 079): an organization changed twice within one second,
seen by two polls, yields two changes — the second placed after the first — and a re-read page replays.

Zendesk's exports leave out the last minute, which normally keeps a second from being read before it is over;
the twin runs here without that lag (`incremental_min_age_s=0`) so that capture's own defence is what is tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, update

from concord.connectors.zendesk import ZendeskConnector
from concord.delivery.capture import ChangeCapture
from concord.delivery.store import DeliveryStore
from concord.ingest.service import IngestService
from concord.sandbox.zendesk import ZendeskTwinSettings
from concord.storage import tables as t
from tests.connectors.zendesk.support import START, FakeClock, Twin, running_twin, token_config
from tests.connectors.zendesk.test_resources import LinkedClock

# the organization fields the account mapping knows (the twin's default adds one it does not)
MAPPED = ("primary_domain", "segment", "lifecycle_state", "credit_status", "concord_id")


@pytest.fixture
def twin_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def twin(twin_clock: FakeClock) -> Iterator[Twin]:
    settings = ZendeskTwinSettings(clock=twin_clock, incremental_min_age_s=0, organization_fields=MAPPED)
    with running_twin(settings) as running:
        yield running


@pytest.fixture
def zendesk(twin: Twin, twin_clock: FakeClock) -> Iterator[ZendeskConnector]:
    conn = ZendeskConnector(token_config(twin.url), clock=LinkedClock(twin_clock))
    yield conn
    conn.close()


def _changes(engine: Engine, org: str) -> list[tuple[int, str]]:
    c = t.change_log.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.source_ts_us, c.payload).where(c.external_id == org).order_by(c.seq))
        return [(int(r[0]), str(r[1])) for r in rows]


def test_a_second_change_in_the_delivered_second_is_delivered(twin: Twin, twin_clock: FakeClock,
                                                              zendesk: ZendeskConnector) -> None:
    org = twin.store.create_organization({"name": "Acme"}).id
    first = zendesk.changes_since("organizations", None)
    assert [r.fields["name"] for r in first.records] == ["Acme"]
    twin.store.update_organization(org, {"notes": "same second"})  # updated_at stays START
    again = zendesk.changes_since("organizations", first.cursor)
    assert [r.fields["notes"] for r in again.records] == ["same second"]
    assert again.records[0].modified_at == first.records[0].modified_at
    assert zendesk.changes_since("organizations", again.cursor).records == []


def test_same_second_changes_are_two_ordered_changes_and_a_reread_replays(
        twin: Twin, twin_clock: FakeClock, zendesk: ZendeskConnector, ingest: IngestService, engine: Engine) -> None:
    store = DeliveryStore(engine)
    capture = ChangeCapture(store, ingest)
    org = twin.store.create_organization({"name": "Acme"}).id
    first = capture.poll("zendesk", zendesk, "organizations", "account")
    assert (first.records, first.applied, first.refused) == (1, 1, 0), first
    before = store.cursor("default", "zendesk", "organizations")
    twin.store.update_organization(org, {"name": "Acme Renamed"})
    assert capture.poll("zendesk", zendesk, "organizations", "account").records == 1
    changes = _changes(engine, str(org))
    assert [ts for ts, _ in changes] == [int(START * 1_000_000), int(START * 1_000_000) + 1]
    assert "Acme Renamed" in changes[1][1]
    with engine.begin() as conn:  # crash after ingest: neither the cursor nor the marks were saved
        conn.execute(update(t.capture_marks).values(source_ts_us=int(START * 1_000_000)))
    store.save_cursor("default", "zendesk", "organizations", before)
    replay = capture.poll("zendesk", zendesk, "organizations", "account")
    assert (replay.records, replay.applied, replay.replayed) == (1, 0, 1)
    assert len(_changes(engine, str(org))) == 2
