"""The Zendesk connector against the Support twin: writes, lookups, bulk jobs and change capture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from concord.connectors.base import DataRejected, ExternalRecord, RateLimit
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.connectors.zendesk import ZendeskConnector
from concord.sandbox.zendesk import ZendeskTwinSettings
from tests.connectors.zendesk.support import START, FakeClock, StepClock, Twin, running_twin, token_config


class LinkedClock(StepClock):
    """The connector's clock; its sleeps also move the twin's clock, so polling lets queued jobs finish."""

    def __init__(self, twin_clock: FakeClock) -> None:
        super().__init__(start=START)
        self.twin_clock = twin_clock

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.twin_clock.advance(max(seconds, 0.001))


@pytest.fixture
def twin_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def twin(twin_clock: FakeClock) -> Iterator[Twin]:
    settings = ZendeskTwinSettings(clock=twin_clock, job_completion_delay_s=3, incremental_max_per_page=3)
    with running_twin(settings) as running:
        yield running


@pytest.fixture
def recorder() -> InMemoryCallRecorder:
    return InMemoryCallRecorder()


@pytest.fixture
def zendesk(twin: Twin, twin_clock: FakeClock, recorder: InMemoryCallRecorder) -> Iterator[ZendeskConnector]:
    config = token_config(twin.url, job_poll_interval_s=1.0)
    conn = ZendeskConnector(config, clock=LinkedClock(twin_clock), recorder=recorder)
    yield conn
    conn.close()


def test_create_with_the_same_key_makes_one_organization(twin: Twin, zendesk: ZendeskConnector) -> None:
    first = zendesk.create("organizations", {"name": "Acme"}, idempotency_key="concord-1")
    again = zendesk.create("organizations", {"name": "Acme"}, idempotency_key="concord-1")
    assert first.id == again.id and first.fields["external_id"] == "concord-1"
    assert twin.store.counts()["organizations"] == 1
    given = zendesk.create("organizations", {"name": "Beta", "external_id": "crm-9"}, idempotency_key="concord-2")
    assert given.fields["external_id"] == "crm-9"  # the caller's external id wins over the key


def test_update_upsert_and_search_by_external_id(twin: Twin, zendesk: ZendeskConnector) -> None:
    made = zendesk.upsert("organizations", "external_id", "acme-1", {"name": "Acme", "notes": "first"})
    updated = zendesk.upsert("organizations", "external_id", "acme-1", {"notes": "second"})
    assert updated.id == made.id and updated.fields["name"] == "Acme" and updated.fields["notes"] == "second"
    zendesk.update("organizations", made.id, {"organization_fields": {"support_tier": "gold"}})
    read = zendesk.read("organizations", made.id)
    assert read is not None and read.fields["organization_fields"]["support_tier"] == "gold"
    # Zendesk compares external ids case-insensitively; zenpy's helper for this lookup is broken.
    assert [r.id for r in zendesk.search("organizations", {"external_id": "ACME-1"})] == [made.id]
    assert [r.id for r in zendesk.search("organizations", {"name": "acme", "external_id": "acme-1"})] == [made.id]
    assert zendesk.search("organizations", {"name": "acme", "external_id": "other"}) == []
    assert zendesk.read("organizations", "not-a-number") is None


def test_search_pages_through_offset_results(twin: Twin) -> None:
    for n in range(5):
        twin.store.create_user({"name": f"Ann {n}", "email": f"ann{n}@acme.test"})
    conn = ZendeskConnector(token_config(twin.url, page_size=2))
    try:
        found = conn.search("users", {"query": "Ann"}, limit=4)
        assert [r.fields["email"] for r in found] == [f"ann{n}@acme.test" for n in range(4)]
        assert [r.fields["name"] for r in conn.search("users", {"email": "ANN3@acme.test"})] == ["Ann 3"]
    finally:
        conn.close()


def test_invalid_data_names_the_field(zendesk: ZendeskConnector) -> None:
    with pytest.raises(DataRejected) as caught:
        zendesk.create("organizations", {"name": "  "}, idempotency_key="blank")
    assert (caught.value.field, caught.value.code) == ("name", "BlankValue")
    with pytest.raises(DataRejected) as unknown:
        zendesk.search("organizations", {"domain": "acme.test"})
    assert unknown.value.field == "domain"
    with pytest.raises(DataRejected):
        zendesk.read("tickets", "1")
    with pytest.raises(DataRejected) as wrong_key:
        zendesk.upsert("organizations", "name", "Acme", {})
    assert wrong_key.value.field == "name"


def test_upsert_many_creates_updates_and_reports_failures(
    twin: Twin, zendesk: ZendeskConnector, recorder: InMemoryCallRecorder
) -> None:
    twin.store.create_organization({"name": "Existing", "external_id": "ext-1"})
    twin.store.create_organization({"name": "Taken"})
    items = [
        ("ext-0", {"name": "Zero"}),
        ("ext-1", {"name": "Existing", "notes": "now with notes"}),
        ("ext-2", {"name": "taken"}),  # name belongs to another organization
        ("ext-3", {"name": ""}),
    ]
    results = zendesk.upsert_many("organizations", items)
    assert [(r.external_id, r.action, r.field) for r in results] == [
        ("ext-0", "created", None),
        ("ext-1", "updated", None),
        ("ext-2", "failed", "name"),
        ("ext-3", "failed", "name"),
    ]
    assert results[3].code == "BlankValue"
    assert twin.store.search_organizations("ext-1", None)[0].notes == "now with notes"
    assert twin.store.counts()["organizations"] == 3
    polls = recorder.counts()[("zendesk", "job_statuses.show", "ok")]
    assert polls >= 2 * 2  # both jobs stayed "queued" for 3 s and were polled until "completed"


def test_upsert_many_splits_into_jobs_of_the_batch_size(
    twin: Twin, twin_clock: FakeClock, recorder: InMemoryCallRecorder
) -> None:
    config = token_config(twin.url, bulk_batch_size=2, job_poll_interval_s=1.0)
    conn = ZendeskConnector(config, clock=LinkedClock(twin_clock), recorder=recorder)
    try:
        results = conn.upsert_many("organizations", [(f"e{n}", {"name": f"Org {n}"}) for n in range(5)])
        assert [r.action for r in results] == ["created"] * 5
        assert conn.capabilities.bulk_batch_size == 2
        assert recorder.counts()[("zendesk", "organizations.create_many", "ok")] == 3
    finally:
        conn.close()


def test_users_upsert_many_uses_create_or_update_many(twin: Twin, zendesk: ZendeskConnector) -> None:
    twin.store.create_user({"name": "Old", "external_id": "u-1"})
    results = zendesk.upsert_many("users", [("u-1", {"name": "Renamed"}), ("u-2", {"name": "New"}), ("u-3", {})])
    assert [(r.external_id, r.action) for r in results] == [("u-1", "updated"), ("u-2", "created"), ("u-3", "failed")]
    assert results[2].field == "name"
    assert twin.store.search_users(None, "u-1")[0].name == "Renamed"


def test_changes_since_pages_by_time_without_repeating_the_boundary_second(
    twin: Twin, twin_clock: FakeClock, zendesk: ZendeskConnector
) -> None:
    # Two organizations per second over three seconds; pages of three split the middle second.
    for second in range(3):
        for n in range(2):
            twin.store.create_organization({"name": f"Org {second}-{n}"})
        twin_clock.advance(1)
    twin_clock.advance(60)  # the export leaves out the last minute
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = zendesk.changes_since("organizations", cursor)
        seen.extend(r.fields["name"] for r in page.records)
        cursor, pages = page.cursor, pages + 1
        if not page.has_more:
            break
    assert seen == [f"Org {s}-{n}" for s in range(3) for n in range(2)]
    assert pages == 3
    # A later change comes through once; a start_time inside the last minute means "nothing yet".
    org_id = twin.store.search_organizations(None, "Org 0-0")[0].id
    twin.store.update_organization(org_id, {"notes": "changed"})
    quiet = zendesk.changes_since("organizations", cursor)
    assert quiet.records == [] and not quiet.has_more
    twin_clock.advance(61)
    later = zendesk.changes_since("organizations", cursor)
    assert [r.fields["notes"] for r in later.records] == ["changed"]
    assert later.records[0].modified_at is not None


def test_a_too_recent_cursor_returns_an_empty_page_and_keeps_the_cursor(zendesk: ZendeskConnector) -> None:
    recent = str(int(START) - 10)
    page = zendesk.changes_since("organizations", recent)
    assert (page.records, page.cursor, page.has_more) == ([], recent, False)
    with pytest.raises(DataRejected) as caught:
        zendesk.changes_since("organizations", "yesterday")
    assert caught.value.field == "cursor"


def test_user_changes_use_the_cursor_based_export(twin: Twin, twin_clock: FakeClock, zendesk: ZendeskConnector) -> None:
    for n in range(4):
        twin.store.create_user({"name": f"User {n}"})
    twin_clock.advance(61)
    first = zendesk.changes_since("users", None)
    second = zendesk.changes_since("users", first.cursor)
    assert [r.fields["name"] for r in first.records] == ["User 0", "User 1", "User 2"] and first.has_more
    assert [r.fields["name"] for r in second.records] == ["User 3"] and not second.has_more
    assert zendesk.changes_since("users", second.cursor).records == []


def test_the_accounts_429s_are_waited_out_not_hammered() -> None:
    twin_clock = FakeClock()
    with running_twin(ZendeskTwinSettings(clock=twin_clock, requests_per_minute=3)) as twin:
        org_id = str(twin.store.create_organization({"name": "Acme"}).id)
        recorder = InMemoryCallRecorder()
        clock = LinkedClock(twin_clock)
        conn = ZendeskConnector(token_config(twin.url), clock=clock, recorder=recorder)
        try:
            names = [(conn.read("organizations", org_id) or _missing()).fields["name"] for _ in range(5)]
        finally:
            conn.close()
    assert names == ["Acme"] * 5
    counts = recorder.counts()
    limited = counts.get(("zendesk", "organizations.show", "rate_limited"), 0)
    assert counts[("zendesk", "organizations.show", "ok")] == 5 and limited == 1  # one 429, then the pause held
    # The third answer said "0 left, resets in 40 s" and the governor paused that long; the twin's window is
    # sliding, so the next call still got a 429 with Retry-After: 20. Waits add up to the window, no more.
    assert sum(clock.sleeps) == pytest.approx(60.0, abs=0.5)


def test_a_declared_rate_limit_keeps_the_connector_under_the_accounts_limit() -> None:
    twin_clock = FakeClock()
    with running_twin(ZendeskTwinSettings(clock=twin_clock, requests_per_minute=3)) as twin:
        org_id = str(twin.store.create_organization({"name": "Acme"}).id)
        recorder = InMemoryCallRecorder()
        # One token per 20 s never exceeds 3 in any 60 s (a bucket of 3 would allow a burst of 4 in 20 s).
        config = token_config(twin.url, rate_limit=RateLimit(requests=1, per_seconds=20))
        clock = LinkedClock(twin_clock)
        conn = ZendeskConnector(config, clock=clock, recorder=recorder)
        try:
            for _ in range(5):
                conn.read("organizations", org_id)
        finally:
            conn.close()
    assert recorder.counts() == {("zendesk", "organizations.show", "ok"): 5}  # the governor paced: no 429 at all
    assert sum(clock.sleeps) >= 80.0  # at least 20 s between calls; "0 remaining" headers may add a wait


def _missing() -> ExternalRecord:
    raise AssertionError("the organization should be readable")
