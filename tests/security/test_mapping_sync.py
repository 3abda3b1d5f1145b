"""An approved mapping change reaches processes other than the one that approved it (#8): two Runtime objects
over one database stand for two processes (the approver's and a running ingest server). Runs on SQLite and
(marked) PostgreSQL through the `engine` fixture."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from concord.hubconfig import Runtime, load_runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.service import IngestService
from concord.security import mapping_sync, proposals
from concord.storage.engine import make_engine, upgrade
from concord.storage.tables import outbox
from tests.security.test_mapping_changes import key_account_spec
from tests.security.test_tenant_mapping_changes import held_as_blocked

TENANT, OTHER = "default", "sandbox"  # both sync Salesforce and Tryton
_clock = itertools.count(1)


def process(interval: float = 0.0) -> Runtime:
    """A process's runtime, as `concord serve` builds it (interval 0: look on every batch)."""
    return load_runtime(None, mapping_sync_s=interval)


@pytest.fixture
def server(engine: Engine) -> Iterator[tuple[Runtime, IngestService]]:
    """The other process: a running ingest service with its own runtime."""
    runtime = process()
    service = IngestService(engine, runtime, online_check=False)
    service.start()
    yield runtime, service
    service.stop()


def ingest(service: IngestService, system: str, ext: str, fields: dict[str, Any], tenant: str = TENANT,
           canonical_id: str | None = None) -> ChangePublic | ChangeError:
    n = next(_clock)
    [outcome] = service.ingest([ChangeCreate(
        tenant=tenant, system=system, entity="account", external_id=ext, fields=fields, canonical_id=canonical_id,
        source_ts=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n), idempotency_key=f"sync-{n}")])
    return outcome


def accepted(outcome: ChangePublic | ChangeError) -> ChangePublic:
    assert isinstance(outcome, ChangePublic), outcome
    return outcome


def approve(engine: Engine, approver: Runtime, spec: dict[str, Any], tenant: str = "*") -> int:
    """Propose and approve (two people) in the approver's process."""
    with engine.begin() as conn:
        pid = proposals.propose(conn, approver, proposals.validate_spec(spec), "alice", tenant=tenant)
        return proposals.approve(conn, approver, pid, "bob")


def rollback(engine: Engine, approver: Runtime, tenant: str = "*") -> int:
    with engine.begin() as conn:
        return proposals.rollback(conn, approver, "salesforce", "account", "carol", tenant=tenant)


def last_salesforce_command(engine: Engine, canonical_id: str) -> dict[str, Any]:
    o = outbox.c
    with engine.connect() as conn:
        raw = conn.execute(select(o.payload).where(o.kind == "command", o.target == "salesforce",
                                                   o.canonical_id == canonical_id).order_by(o.seq.desc())).first()
    assert raw is not None
    payload: dict[str, Any] = orjson.loads(raw[0])
    return payload


def credit_hold(service: IngestService, engine: Engine, canonical_id: str, status: str,
                tenant: str = TENANT) -> dict[str, Any]:
    """ERP reports a credit status; what the Salesforce update command says (the router's outbound mapping)."""
    accepted(ingest(service, "tryton", f"party-{canonical_id}", {"credit_status": status},
                    canonical_id=canonical_id, tenant=tenant))
    command = last_salesforce_command(engine, canonical_id)
    return {"value": command["fields"].get("Credit_Status__c"), "version": command["mapping_version"]}


def account(service: IngestService, ext: str, tenant: str = TENANT) -> str:
    """A Salesforce account (bound there, so later changes route Salesforce updates), credit status ok."""
    created = accepted(ingest(service, "salesforce", ext, {"Name": f"Co {ext}"}, tenant=tenant))
    accepted(ingest(service, "tryton", f"party-{created.canonical_id}", {"credit_status": "ok"},
                    canonical_id=created.canonical_id, tenant=tenant))
    return created.canonical_id


def test_a_hub_wide_activation_and_its_rollback_reach_a_running_process(
        engine: Engine, server: tuple[Runtime, IngestService]) -> None:
    runtime, service = server
    customer = account(service, "001A")  # the router's targets for (account, default) are cached from here on
    assert isinstance(ingest(service, "salesforce", "001K", {"Name": "K", "Type": "Key Account"}), ChangeError)

    assert approve(engine, process(), held_as_blocked()) == 2

    inbound = accepted(ingest(service, "salesforce", "001K", {"Name": "K", "Type": "Key Account"}))
    assert inbound.mapping_version == "salesforce/account@2"
    assert credit_hold(service, engine, customer, "hold") == {"value": "Blocked", "version": "salesforce/account@2"}
    other = account(service, "001S", tenant=OTHER)  # tenants without an override follow the hub-wide change
    assert credit_hold(service, engine, other, "hold", OTHER) == {"value": "Blocked", "version": "salesforce/account@2"}

    assert rollback(engine, process()) == 3
    assert isinstance(ingest(service, "salesforce", "001L", {"Name": "L", "Type": "Key Account"}), ChangeError)
    assert credit_hold(service, engine, customer, "review") == {"value": "In Review",
                                                                "version": "salesforce/account@3"}
    assert credit_hold(service, engine, customer, "hold") == {"value": "On Hold", "version": "salesforce/account@3"}
    running = runtime.mappings.get("salesforce", "account")
    assert running is not None and running.spec.label == "salesforce/account@3"


def test_a_tenant_override_and_its_rollback_to_the_hub_wide_spec_reach_a_running_process(
        engine: Engine, server: tuple[Runtime, IngestService]) -> None:
    runtime, service = server
    mine, theirs = account(service, "001M"), account(service, "001T", tenant=OTHER)

    assert approve(engine, process(), held_as_blocked(), tenant=TENANT) == 2

    inbound = accepted(ingest(service, "salesforce", "001K", {"Name": "K", "Type": "Key Account"}))
    assert inbound.mapping_version == "salesforce/account[default]@2"
    assert credit_hold(service, engine, mine, "hold") == {"value": "Blocked",
                                                          "version": "salesforce/account[default]@2"}
    assert isinstance(ingest(service, "salesforce", "001K", {"Name": "K", "Type": "Key Account"}, tenant=OTHER),
                      ChangeError)  # the other tenant still runs the hub-wide spec
    assert credit_hold(service, engine, theirs, "hold", OTHER) == {"value": "On Hold",
                                                                   "version": "salesforce/account@1"}

    # Default's first version row is the hub-wide spec (it ran no override): rolling back to it drops the
    # override in the running process too, instead of installing a copy of the hub-wide spec.
    assert rollback(engine, process(), tenant=TENANT) == 3
    assert isinstance(ingest(service, "salesforce", "001N", {"Name": "N", "Type": "Key Account"}), ChangeError)
    assert credit_hold(service, engine, mine, "review") == {"value": "In Review", "version": "salesforce/account@1"}
    assert runtime.mappings.override(TENANT, "salesforce", "account") is None

    # ... so a later hub-wide change reaches the tenant again.
    assert approve(engine, process(), held_as_blocked()) == 2
    assert credit_hold(service, engine, mine, "hold") == {"value": "Blocked", "version": "salesforce/account@2"}


def test_the_look_is_made_at_most_once_per_interval_and_changes_nothing_already_mapped(engine: Engine) -> None:
    slow = process(interval=3600.0)
    with engine.connect() as conn:
        assert mapping_sync.sync(conn, slow) is False  # first look: nothing activated yet
    approve(engine, process(), key_account_spec())
    with engine.connect() as conn:
        rows_before = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        assert mapping_sync.sync(conn, slow) is False  # looked less than an hour ago: no query, old version
        running = slow.mappings.get("salesforce", "account")
        assert running is not None and running.spec.version == 1
        assert mapping_sync.sync(conn, slow, interval=0.0) is True
        running = slow.mappings.get("salesforce", "account")
        assert running is not None and running.spec.version == 2
        assert mapping_sync.sync(conn, slow, interval=0.0) is False  # same fingerprint: nothing to swap
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == rows_before  # no resync


def test_a_store_without_the_versions_puts_the_configured_mappings_back(engine: Engine, tmp_path: Path) -> None:
    """A process that followed an override, then pointed at a store without it (a restored backup), runs the
    files again rather than a version the store no longer has."""
    follower = process()
    approve(engine, process(), held_as_blocked(), tenant=TENANT)
    approve(engine, process(), key_account_spec())
    with engine.connect() as conn:
        assert mapping_sync.sync(conn, follower) is True
    own = follower.mappings.override(TENANT, "salesforce", "account")
    assert own is not None and own.spec.label == "salesforce/account[default]@2"
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade(empty)
    with empty.connect() as conn:
        assert mapping_sync.sync(conn, follower) is True
    empty.dispose()
    assert follower.mappings.override(TENANT, "salesforce", "account") is None
    hub = follower.mappings.get("salesforce", "account", TENANT)
    assert hub is not None and hub.spec.label == "salesforce/account@1"
