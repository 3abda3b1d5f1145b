from __future__ import annotations

import random
from typing import Any

import pytest

from concord.connectors.base import (
    AmbiguousWrite,
    Capabilities,
    ChangePage,
    Conflict,
    Connector,
    ExternalRecord,
    RateLimit,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.retry import Retrier, RetryPolicy
from concord.connectors.runtime.writes import ExactlyOnceWriter, UnverifiableWrite


class FakeCrm:
    """An in-memory system implementing the `Connector` protocol, with scripted faults per write.

    Faults: "before" fails before anything is stored; "drop" stores the record, then loses the response;
    "429" is refused by the rate limiter.
    """

    name = "fakecrm"

    def __init__(
        self, faults: list[str] | None = None, idempotency_header: str | None = None, upsert: bool = False
    ) -> None:
        self.capabilities = Capabilities(
            objects=("contact",),
            idempotency_header=idempotency_header,
            upsert_by_external_id=upsert,
            rate_limit=RateLimit(requests=10, per_seconds=1),
        )
        self.records: dict[str, ExternalRecord] = {}
        self.faults = list(faults or [])
        self.keys_seen: list[str] = []
        self.by_key: dict[str, str] = {}
        self.unique_field: str | None = None

    def _next_fault(self) -> str | None:
        return self.faults.pop(0) if self.faults else None

    def _store(self, obj: str, fields: dict[str, Any]) -> ExternalRecord:
        record = ExternalRecord(object=obj, id=f"{obj}-{len(self.records) + 1}", fields=dict(fields))
        self.records[record.id] = record
        return record

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        found = [
            r
            for r in self.records.values()
            if r.object == obj and all(r.fields.get(k) == v for k, v in criteria.items())
        ]
        return found[:limit]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        return self.records.get(record_id)

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        self.keys_seen.append(idempotency_key)
        fault = self._next_fault()
        if fault == "before":
            raise RetryableError(self.name, "503 Service Unavailable")
        if fault == "429":
            raise RateLimited(self.name, "429", retry_after=1.0)
        field = self.unique_field
        if field is not None and self.search(obj, {field: fields.get(field)}):
            raise Conflict(self.name, f"duplicate value for {field}")
        if self.capabilities.idempotency_header and idempotency_key in self.by_key:
            record = self.records[self.by_key[idempotency_key]]
        else:
            record = self._store(obj, fields)
            self.by_key[idempotency_key] = record.id
        if fault == "drop":
            raise AmbiguousWrite(self.name, "connection reset after request was sent")
        return record

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        record = self.records[record_id]
        record.fields.update(fields)
        return record

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        fault = self._next_fault()
        existing = self.search(obj, {external_id_field: external_id}, limit=1)
        record = existing[0] if existing else self._store(obj, {**fields, external_id_field: external_id})
        if fault == "drop":
            raise AmbiguousWrite(self.name, "read timeout")
        return record

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        return ChangePage(records=list(self.records.values()), cursor=None)

    def close(self) -> None:
        return None


FIELDS = {"email": "ada@example.com", "name": "Ada Lovelace"}
BUSINESS_KEY = {"email": "ada@example.com"}


def writer(crm: FakeCrm, clock: ManualClock | None = None) -> ExactlyOnceWriter:
    retrier = Retrier(RetryPolicy(max_attempts=5), clock=clock or ManualClock(), rng=random.Random(0))
    return ExactlyOnceWriter(crm, runner=retrier.run)


def test_fake_satisfies_the_connector_protocol() -> None:
    assert isinstance(FakeCrm(), Connector)


def test_drop_after_write_still_one_record() -> None:
    crm = FakeCrm(faults=["drop"])
    outcome = writer(crm).create("contact", FIELDS, idempotency_key="k-1", business_key=BUSINESS_KEY)
    assert len(crm.records) == 1
    assert outcome.via == "lookup"
    assert outcome.attempts == 2
    assert outcome.record.fields["email"] == "ada@example.com"
    assert crm.keys_seen == ["k-1"]


def test_failure_before_write_then_drop_then_success_is_one_record() -> None:
    crm = FakeCrm(faults=["before", "429", "before"])
    outcome = writer(crm).create("contact", FIELDS, idempotency_key="k-2", business_key=BUSINESS_KEY)
    assert len(crm.records) == 1
    assert outcome.via == "create"
    assert outcome.attempts == 4
    assert crm.keys_seen == ["k-2"] * 4


def test_many_drops_across_many_writes() -> None:
    crm = FakeCrm(faults=["drop", "drop", "before", "drop"] * 5)
    for n in range(10):
        email = f"user{n}@example.com"
        writer(crm).create("contact", {"email": email}, idempotency_key=f"k-{n}", business_key={"email": email})
    assert sorted(r.fields["email"] for r in crm.records.values()) == sorted(f"user{n}@example.com" for n in range(10))


def test_server_side_idempotency_makes_retry_safe_without_business_key() -> None:
    crm = FakeCrm(faults=["drop"], idempotency_header="Idempotency-Key")
    outcome = writer(crm).create("contact", FIELDS, idempotency_key="k-3")
    assert len(crm.records) == 1
    assert outcome.via == "create"
    assert crm.keys_seen == ["k-3", "k-3"]


def test_unverifiable_write_is_not_retried() -> None:
    crm = FakeCrm(faults=["drop"])
    with pytest.raises(UnverifiableWrite) as caught:
        writer(crm).create("contact", FIELDS, idempotency_key="k-4")
    assert not caught.value.retryable
    assert isinstance(caught.value.__cause__, AmbiguousWrite)
    assert len(crm.records) == 1
    assert crm.keys_seen == ["k-4"]


def test_upsert_by_external_id_is_preferred_and_retried() -> None:
    crm = FakeCrm(faults=["drop"], upsert=True)
    outcome = writer(crm).create("contact", FIELDS, idempotency_key="k-5", external_id=("concord_id__c", "c-1"))
    assert outcome.via == "upsert"
    assert outcome.attempts == 2
    assert len(crm.records) == 1
    assert crm.keys_seen == []


def test_uniqueness_conflict_resolves_to_the_existing_record() -> None:
    crm = FakeCrm()
    crm.unique_field = "email"
    first = writer(crm).create("contact", FIELDS, idempotency_key="k-6", business_key=BUSINESS_KEY)
    again = writer(crm).create("contact", FIELDS, idempotency_key="k-7", business_key=BUSINESS_KEY)
    assert again.record.id == first.record.id
    assert again.via == "lookup"
    assert len(crm.records) == 1


def test_conflict_without_a_match_is_raised() -> None:
    crm = FakeCrm()
    crm.unique_field = "email"
    writer(crm).create("contact", FIELDS, idempotency_key="k-8")
    with pytest.raises(Conflict):
        writer(crm).create("contact", FIELDS, idempotency_key="k-9", business_key={"email": "someone@else"})


def test_ambiguous_business_key_is_a_conflict_not_a_guess() -> None:
    crm = FakeCrm(faults=["drop"])
    crm._store("contact", FIELDS)
    crm._store("contact", FIELDS)
    with pytest.raises(Conflict):
        writer(crm).create("contact", FIELDS, idempotency_key="k-10", business_key=BUSINESS_KEY)


def test_writer_runs_under_the_resilient_caller() -> None:
    clock = ManualClock()
    crm = FakeCrm(faults=["429", "drop"])
    key = RateKey("acme", crm.name, "svc")
    governor = RateGovernor({crm.name: RateLimit(requests=1, per_seconds=1)}, clock=clock)
    caller = ResilientCaller(
        Retrier(RetryPolicy(), clock=clock, rng=random.Random(0)), BreakerRegistry(clock=clock), governor
    )
    outcome = ExactlyOnceWriter(crm, runner=caller.bind(key, "contact.create").run).create(
        "contact", FIELDS, idempotency_key="k-11", business_key=BUSINESS_KEY
    )
    assert outcome.via == "lookup"
    assert outcome.attempts == 3
    assert len(crm.records) == 1
    # The 429 paused the key for its Retry-After; the bucket then paced the remaining attempts.
    assert sum(clock.sleeps) >= 2.0
