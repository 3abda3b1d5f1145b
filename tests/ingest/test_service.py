"""The ingest path end to end on a real database (SQLite and PostgreSQL): gate, golden record, outbox."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import Engine, func, select

from concord.ingest.models import ChangeError, ChangePublic, ChangeStatus
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.storage import tables as t
from tests.factories import change


def ok(outcome: ChangePublic | ChangeError) -> ChangePublic:
    assert isinstance(outcome, ChangePublic), outcome
    return outcome


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_new_record_keeps_provenance_and_binding(ingest: IngestService, engine: Engine) -> None:
    result = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme", "Type": "SMB"}, at=5)])[0])
    assert result.created and result.status is ChangeStatus.APPLIED
    assert result.applied == ["name", "segment"]
    with engine.connect() as conn:
        record = queries.golden_record(conn, result.canonical_id)
        assert record is not None
        assert record.value("segment") == "smb"
        prov = record.fields["name"].provenance
        assert (prov.system, prov.mapping_version, prov.change_id) == ("salesforce", "salesforce/account@1",
                                                                        result.change_id)
        assert queries.canonical_for(conn, "default", "salesforce", "account", "001A") == result.canonical_id


def test_same_idempotency_key_returns_first_result(ingest: IngestService, engine: Engine) -> None:
    first = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"}, key="k-1")])[0])
    again = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Other"}, key="k-1")])[0])
    assert again.replayed and again.change_id == first.change_id and again.applied == ["name"]
    both = ingest.ingest([change("salesforce", "001B", {"Name": "B"}, key="k-2"),
                          change("salesforce", "001B", {"Name": "B2"}, key="k-2")])
    assert ok(both[1]).replayed and ok(both[1]).change_id == ok(both[0]).change_id
    assert count(engine, t.change_log) == 2
    with engine.connect() as conn:
        assert queries.golden_record(conn, first.canonical_id).value("name") == "Acme"  # type: ignore[union-attr]


def test_non_owner_write_is_rejected_and_recorded(ingest: IngestService, engine: Engine) -> None:
    erp = change("tryton", "7", {"name": "Acme GmbH", "address": {"city": "Berlin"}})
    cid = ok(ingest.ingest([erp])[0]).canonical_id
    result = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme", "BillingCity": "Paris"},
                                      canonical_id=cid)])[0])
    assert result.status is ChangeStatus.PARTIAL
    assert [(r.field, r.reason) for r in result.rejected] == [("billing_address.city",
                                                               "billing_address.city is owned by tryton")]
    with engine.connect() as conn:
        assert queries.golden_record(conn, cid).value("billing_address.city") is None  # type: ignore[union-attr]
        row = queries.change(conn, result.change_id)
    assert row is not None and row["rejected"] == 1 and orjson.loads(row["payload"])["BillingCity"] == "Paris"


def test_older_update_never_overwrites_newer(ingest: IngestService, engine: Engine) -> None:
    cid = ok(ingest.ingest([change("tryton", "7", {"credit_status": "hold"}, at=20)])[0]).canonical_id
    late = ok(ingest.ingest([change("tryton", "7", {"credit_status": "review"}, at=10)])[0])
    assert late.status is ChangeStatus.NO_OP and late.stale == ["credit_status"]
    with engine.connect() as conn:
        assert queries.golden_record(conn, cid).value("credit_status") == "hold"  # type: ignore[union-attr]


def test_echo_of_pushed_value_is_suppressed(ingest: IngestService, engine: Engine) -> None:
    cid = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"}, at=0)])[0]).canonical_id
    pushed = ok(ingest.ingest([change("tryton", "7", {"code": "C-1"}, at=10, canonical_id=cid)])[0])
    assert pushed.outbound_commands >= 1
    with engine.connect() as conn:
        commands = queries.outbox(conn, kind="command", target="salesforce", canonical_id=cid)
    assert [orjson.loads(c["payload"])["fields"] for c in commands] == [{"ERP_Customer_Number__c": "C-1"}]
    ok(ingest.ingest([change("tryton", "7", {"code": "C-2"}, at=20)])[0])
    echo = ok(ingest.ingest([change("salesforce", "001A", {"ERP_Customer_Number__c": "C-1"}, at=30)])[0])
    assert echo.echoes == ["erp_customer_number"] and not echo.rejected and echo.outbound_commands == 0


def test_approval_mode_creates_pending_task_then_approve_applies(ingest: IngestService, engine: Engine) -> None:
    from concord.ingest import stewardship

    cid = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"}, at=0)])[0]).canonical_id
    pending = ok(ingest.ingest([change("zendesk", "z1", {"name": "Acme Support"}, at=5, canonical_id=cid)])[0])
    assert pending.status is ChangeStatus.PENDING and pending.pending == ["name"]
    with engine.connect() as conn:
        [task] = queries.approvals(conn, "default", "pending")
    assert (task["field"], orjson.loads(task["value"]), task["owner"]) == ("name", "Acme Support", "salesforce")
    applied = stewardship.approve(ingest, task["id"], "steward@example.com")
    assert isinstance(applied, ChangePublic) and applied.applied == ["name"]
    with engine.connect() as conn:
        record = queries.golden_record(conn, cid)
    assert record is not None and record.value("name") == "Acme Support"
    assert record.fields["name"].provenance.approved_by == "steward@example.com"
    with pytest.raises(stewardship.ApprovalClosed):
        stewardship.approve(ingest, task["id"], "someone-else")


def test_illegal_lifecycle_transition_is_409_and_nothing_applies(ingest: IngestService, engine: Engine) -> None:
    first = change("concord", "x", {"lifecycle_state": "prospect"}, canonical_id="cus_1")
    cid = ok(ingest.ingest([first])[0]).canonical_id
    before = count(engine, t.change_log), count(engine, t.outbox)
    refused = ingest.ingest([change("concord", "x", {"lifecycle_state": "active", "name": "Sneaky"}, at=1,
                                    canonical_id=cid)])[0]
    assert isinstance(refused, ChangeError) and refused.status == 409 and refused.field == "lifecycle_state"
    assert (count(engine, t.change_log), count(engine, t.outbox)) == before
    with engine.connect() as conn:
        record = queries.golden_record(conn, cid)
    assert record is not None and record.value("lifecycle_state") == "prospect" and record.value("name") is None


def test_outbox_written_with_golden_record_in_one_transaction(ingest: IngestService, engine: Engine,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from concord.storage.repository import IngestRepository

    original = IngestRepository.write

    def write_then_fail(self: IngestRepository, batch: object) -> None:
        original(self, batch)  # type: ignore[arg-type]
        raise RuntimeError("crash after writing, before commit")

    monkeypatch.setattr(IngestRepository, "write", write_then_fail)
    with pytest.raises(RuntimeError):
        ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])
    monkeypatch.undo()
    assert [count(engine, tb) for tb in (t.golden_records, t.bindings, t.change_log, t.outbox)] == [0, 0, 0, 0]
    result = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])[0])
    with engine.connect() as conn:
        events = queries.outbox(conn, kind="event", canonical_id=result.canonical_id)
    assert [e["type"] for e in events] == ["CustomerCreated"]
    assert orjson.loads(events[0]["payload"])["causation_id"] == result.change_id


def test_exact_key_links_systems_instead_of_creating_a_duplicate(ingest: IngestService) -> None:
    crm = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme", "Domain__c": "acme.com"})])[0])
    support = ok(ingest.ingest([change("zendesk", "z9", {"organization_fields": {"primary_domain": "ACME.com"}})])[0])
    assert support.canonical_id == crm.canonical_id and not support.created
    other = ok(ingest.ingest([change("salesforce", "001B", {"Name": "Acme dup", "Domain__c": "acme.com"})])[0])
    assert other.canonical_id != crm.canonical_id  # a second CRM record is not silently merged


def test_reference_resolves_through_bindings(ingest: IngestService, engine: Engine) -> None:
    account = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])[0])
    contact = ok(ingest.ingest([change("salesforce", "003C", {"LastName": "Doe", "AccountId": "001A"},
                                       entity="contact")])[0])
    with engine.connect() as conn:
        record = queries.golden_record(conn, contact.canonical_id)
    assert record is not None and record.value("account_id") == account.canonical_id


def test_stale_version_write_is_a_concurrency_conflict(engine: Engine, ingest: IngestService) -> None:
    from concord.storage.repository import BatchWrites, ConcurrencyConflict, IngestRepository

    cid = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])[0]).canonical_id
    with engine.connect() as conn:
        record = queries.golden_record(conn, cid)
    assert record is not None
    ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme 2"}, at=9)])[0])  # someone else moved on
    record.version += 1
    with pytest.raises(ConcurrencyConflict), engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(changed_records=[(record, record.version - 1)]))


def test_bad_changes_are_refused_with_the_field_named(ingest: IngestService, engine: Engine) -> None:
    outcomes = ingest.ingest([
        change("salesforce", "001A", {"Nmae": "typo"}),
        change("salesforce", "001A", {"NumberOfEmployees": "many"}),
        change("sap", "1", {"Name": "x"}),
        change("salesforce", "001A", {"Name": "x"}, entity="planet"),
        change("salesforce", "001A", {"Name": "fine"}),
    ])
    errors = [o for o in outcomes if isinstance(o, ChangeError)]
    assert [(e.status, e.field) for e in errors] == [
        (422, "fields.Nmae"), (422, "fields.NumberOfEmployees"), (422, "system"), (422, "entity")]
    assert isinstance(outcomes[4], ChangePublic)
    assert count(engine, t.change_log) == 1


def test_a_record_referring_to_itself_is_422_and_nothing_applies(ingest: IngestService, engine: Engine) -> None:
    cid = ok(ingest.ingest([change("salesforce", "001SELF", {"Name": "Loop Ltd"}, at=1)])[0]).canonical_id
    before = count(engine, t.change_log), count(engine, t.outbox)
    refused = ingest.ingest([change("salesforce", "001SELF", {"Name": "Loop Ltd 2", "ParentId": "001SELF"},
                                    at=2)])[0]
    assert isinstance(refused, ChangeError) and refused.status == 422 and refused.field == "parent_account_id"
    assert (count(engine, t.change_log), count(engine, t.outbox)) == before
    with engine.connect() as conn:
        record = queries.golden_record(conn, cid)
    assert record is not None and record.value("name") == "Loop Ltd" and record.value("parent_account_id") is None
    fine = ok(ingest.ingest([change("salesforce", "001CHILD", {"Name": "Child", "ParentId": "001SELF"}, at=3)])[0])
    with engine.connect() as conn:
        child = queries.golden_record(conn, fine.canonical_id)
    assert child is not None and child.value("parent_account_id") == cid
