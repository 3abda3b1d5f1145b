"""The online duplicate check inside ingest: auto-link, hold for a steward (then link or split), or create."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from concord.ingest.models import ChangeError, ChangePublic, ChangeStatus
from concord.ingest.service import IngestService
from concord.matching import review
from concord.matching.tables import held_changes, match_reviews
from concord.storage import queries
from concord.storage import tables as t
from tests.factories import change

SF_ACME = {"Name": "Acme Logistics GmbH", "Phone": "+49 30 1234567", "Website": "https://www.acme-logistics.de",
           "ShippingStreet": "12 Market Street", "ShippingCity": "Berlin", "ShippingPostalCode": "10115",
           "ShippingCountry": "DE"}
ERP_ACME = {"name": "ACME Logistics G.m.b.H.", "address": {"street": "12 Market St.", "city": "Berlin",
                                                           "postal_code": "10115", "country": "DE"}}


def ok(outcome: ChangePublic | ChangeError) -> ChangePublic:
    assert isinstance(outcome, ChangePublic), outcome
    return outcome


def golden_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.golden_records)).scalar_one())


def reviews(engine: Engine, status: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return review.list_reviews(conn, "default", status)


def test_variant_from_another_system_is_linked_with_its_evidence(ingest: IngestService, engine: Engine) -> None:
    crm = ok(ingest.ingest([change("salesforce", "001A", SF_ACME)])[0])
    erp = ok(ingest.ingest([change("tryton", "7", ERP_ACME, at=1)])[0])
    assert not erp.created and erp.canonical_id == crm.canonical_id
    assert golden_count(engine) == 1
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "tryton", "account", "7") == crm.canonical_id
    [audit] = reviews(engine, "auto")
    assert (audit["left_id"], audit["right_id"], audit["outcome"]) == (crm.canonical_id, "ext:tryton:7", "link")
    assert audit["score"] >= 12 and {e["field"]: e["level"] for e in audit["evidence"]}["postcode"] == "exact"


def test_a_different_company_is_created(ingest: IngestService, engine: Engine) -> None:
    ok(ingest.ingest([change("salesforce", "001A", SF_ACME)])[0])
    other = ok(ingest.ingest([change("salesforce", "001B", {"Name": "Zorbel Foods Ltd", "ShippingCity": "Leeds",
                                                            "ShippingCountry": "GB"})])[0])
    assert other.created and golden_count(engine) == 2
    assert reviews(engine, "pending") == [] and reviews(engine, "auto") == []


def _held(ingest: IngestService, engine: Engine) -> tuple[ChangePublic, ChangePublic, ChangePublic]:
    """A second Salesforce record of the same company: never silently a second customer, never auto-linked
    (one customer with two Salesforce records is a duplicate inside Salesforce) — held for a steward."""
    first = ok(ingest.ingest([change("salesforce", "001A", SF_ACME)])[0])
    held = ok(ingest.ingest([change("salesforce", "001Z", {**SF_ACME, "Name": "ACME LOGISTICS"}, at=1)])[0])
    later = ok(ingest.ingest([change("salesforce", "001Z", {**SF_ACME, "Phone": "+49 30 7654321"}, at=2)])[0])
    assert held.status is ChangeStatus.HELD and later.status is ChangeStatus.HELD
    assert held.review_id == later.review_id and held.canonical_id == ""
    assert golden_count(engine) == 1
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "salesforce", "account", "001Z") is None
        assert conn.execute(select(func.count()).select_from(held_changes)).scalar_one() == 2
    [pending] = reviews(engine, "pending")
    assert pending["id"] == held.review_id and pending["left_id"] == first.canonical_id
    assert "already has a salesforce record" in pending["reason"]
    return first, held, later


def test_held_record_linked_by_the_steward_joins_the_customer(ingest: IngestService, engine: Engine) -> None:
    first, held, _ = _held(ingest, engine)
    assert held.review_id is not None
    verdict = review.link(ingest, held.review_id, "steward@example.com")
    assert verdict.released == 2 and verdict.canonical_id == first.canonical_id
    assert golden_count(engine) == 1
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "salesforce", "account", "001Z") == first.canonical_id
        record = queries.golden_record(conn, first.canonical_id)
        # the owner's newest write wins, whichever of its two records it came from
        assert record is not None and record.value("phone") == "+49 30 7654321"
        statuses = {r.status for r in conn.execute(select(held_changes.c.status))}
        decided = conn.execute(select(match_reviews).where(match_reviews.c.id == held.review_id)).one()
    assert statuses == {"released"} and (decided.status, decided.decided_by) == ("same", "steward@example.com")


def test_held_record_split_by_the_steward_becomes_its_own_customer(ingest: IngestService, engine: Engine) -> None:
    first, held, _ = _held(ingest, engine)
    assert held.review_id is not None
    verdict = review.split(ingest, held.review_id, "steward")
    assert verdict.released == 2 and verdict.canonical_id != first.canonical_id
    assert golden_count(engine) == 2
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "salesforce", "account", "001Z") == verdict.canonical_id
        record = queries.golden_record(conn, verdict.canonical_id)
    assert record is not None and record.value("phone") == "+49 30 7654321"  # both held changes, in order
    again = ok(ingest.ingest([change("salesforce", "001Z", {**SF_ACME, "Phone": "+49 30 1"}, at=3)])[0])
    assert again.canonical_id == verdict.canonical_id and again.status is ChangeStatus.APPLIED


def test_held_change_log_row_is_durable_and_replayable(ingest: IngestService, engine: Engine) -> None:
    ok(ingest.ingest([change("salesforce", "001A", SF_ACME)])[0])
    first = ok(ingest.ingest([change("salesforce", "001Z", SF_ACME, key="held-1")])[0])
    again = ok(ingest.ingest([change("salesforce", "001Z", SF_ACME, key="held-1")])[0])
    assert again.replayed and again.status is ChangeStatus.HELD and again.review_id == first.review_id
    with engine.connect() as conn:
        row = conn.execute(select(t.change_log.c.status, t.change_log.c.decision)
                           .where(t.change_log.c.change_id == first.change_id)).one()
    assert row.status == "held" and orjson.loads(row.decision)["review_id"] == first.review_id
