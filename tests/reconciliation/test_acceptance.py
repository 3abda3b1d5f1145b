"""Reconciliation acceptance on the live sandbox (Salesforce twin, real Tryton): every injected drift kind is
found, heal leaves zero drift, and heal never writes a field the target system owns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update

from concord.connectors.tryton import TrytonConnector
from concord.demo.live import TENANT, LiveDemo, bound, live_demo
from concord.hubconfig import Runtime
from concord.reconciliation.engine import DriftReport, Reconciler
from concord.reconciliation.heal import heal
from concord.storage import queries
from concord.storage import tables as t
from tests.connectors.tryton.support import require_trytond


@pytest.fixture(scope="module")
def demo(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    require_trytond()
    with live_demo(runtime, Path(tmp_path_factory.mktemp("reconcile"))) as running:
        yield running


def _customer(demo: LiveDemo, name: str, n: int) -> tuple[str, dict[str, str]]:
    sf_id = demo.box.apps["salesforce"].state.store.inject("Account", {
        "Name": name, "Website": f"https://{name.split()[0].lower()}.example", "Phone": f"+1 555 010{n}"})
    demo.sync()
    demo.sync()
    with demo.engine.connect() as conn:
        cid = queries.canonical_for(conn, TENANT, "salesforce", "account", sf_id)
    assert cid is not None
    return cid, bound(demo, cid)


def _run(demo: LiveDemo, runtime: Runtime, system: str) -> DriftReport:
    return Reconciler(demo.engine, runtime, TENANT, system, "account", demo.connectors[system]).run()


def _kinds(report: DriftReport) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(d.kind.value, d.canonical_id, d.external_id, d.field) for d in report.drifts}


def _heal_all(demo: LiveDemo, runtime: Runtime, systems: tuple[str, ...]) -> list[dict[str, object]]:
    commands: list[dict[str, object]] = []
    for system in systems:
        commands.extend(heal(demo.ingest, runtime, _run(demo, runtime, system)).commands)
    demo.dispatcher.drain()
    return commands


def _lost_create(demo: LiveDemo) -> str:
    """A customer whose Tryton create was lost on the way (marked delivered, never arrived)."""
    sf_id = demo.box.apps["salesforce"].state.store.inject("Account", {"Name": "Wonka Foods", "Phone": "+1 555 0199"})
    demo.capture.poll("salesforce", demo.connectors["salesforce"], "Account", "account")
    with demo.engine.begin() as conn:
        cid = queries.canonical_for(conn, TENANT, "salesforce", "account", sf_id)
        conn.execute(update(t.outbox).where(t.outbox.c.target == "tryton", t.outbox.c.canonical_id == cid)
                     .values(published_at=time.time()))
    demo.dispatcher.drain()
    assert cid is not None
    return cid


SYSTEMS = ("salesforce", "tryton")


def test_every_drift_is_found_and_healed_without_writing_owned_fields(demo: LiveDemo, runtime: Runtime) -> None:
    names = ["Initech Systems", "Umbrella Labs", "Hooli Media", "Vandelay Industries", "Soylent Foods"]
    ids = {name.split()[0]: _customer(demo, name, n) for n, name in enumerate(names)}
    _heal_all(demo, runtime, SYSTEMS)  # adopt what the ERP held before Concord (its own company parties)
    assert all(_run(demo, runtime, s).drifts == [] for s in SYSTEMS)

    sf_store = demo.box.apps["salesforce"].state.store
    erp: TrytonConnector = demo.connectors["tryton"]  # type: ignore[assignment]
    missing = _lost_create(demo)
    sf_extra = sf_store.inject("Account", {"Name": "Stark Industries", "Phone": "+1 555 0177"})
    erp_extra = erp.create("party", {"name": "Wayne Enterprises", "address.city": "Gotham"}, "manual-1").id
    initech, umbrella, hooli, vandelay, soylent = (ids[n] for n in ("Initech", "Umbrella", "Hooli", "Vandelay",
                                                                      "Soylent"))
    sf_store.tamper("Account", initech[1]["salesforce"], {"ERP_Customer_Number__c": "WRONG-1"})  # ERP-owned
    sf_store.tamper("Account", umbrella[1]["salesforce"], {"Name": "Umbrella Laboratories"})  # its own: golden behind
    erp.update("party", hooli[1]["tryton"], {"phone": "+1 555 9999"})  # CRM-owned, overwritten in ERP
    erp.update("party", vandelay[1]["tryton"], {"name": "Vandelay Industries LLC"})  # ERP's own: golden behind
    sf_store.tamper("Account", soylent[1]["salesforce"], {"IsDeleted": True})
    erp.update("party", soylent[1]["tryton"], {"active": False})

    found = {s: _run(demo, runtime, s) for s in SYSTEMS}
    sf, tr = _kinds(found["salesforce"]), _kinds(found["tryton"])
    assert ("missing", missing, None, None) in tr
    assert ("extra", None, sf_extra, None) in sf and ("extra", None, erp_extra, None) in tr
    assert ("field", initech[0], initech[1]["salesforce"], "erp_customer_number") in sf
    assert ("field", umbrella[0], umbrella[1]["salesforce"], "name") in sf
    assert ("field", hooli[0], hooli[1]["tryton"], "phone") in tr
    assert ("field", vandelay[0], vandelay[1]["tryton"], "legal_name") in tr
    assert ("deleted", soylent[0], soylent[1]["salesforce"], None) in sf
    assert ("deleted", soylent[0], soylent[1]["tryton"], None) in tr
    assert len(sf) == 4 and len(tr) == 5, (sf, tr)  # nothing else reported

    commands = _heal_all(demo, runtime, SYSTEMS)
    for cmd in commands:
        if cmd["op"] == "update":  # a create seeds a new record (the router's rule); an update never overrides
            owners = {runtime.rules.rule_for(TENANT, "account", f).owner for f in cmd["canonical_fields"]}
            assert cmd["system"] not in owners, cmd
    assert {(c["system"], c["op"]) for c in commands} >= {("salesforce", "update"), ("tryton", "update"),
                                                          ("tryton", "create")}
    demo.sync()
    after = {s: _run(demo, runtime, s) for s in SYSTEMS}
    assert after["salesforce"].drifts == [] and after["tryton"].drifts == [], {s: _kinds(r) for s, r in after.items()}
    assert sf_store.snapshot("Account")[0] is not None
    with demo.engine.connect() as conn:
        assert queries.golden_record(conn, umbrella[0]).value("name") == "Umbrella Laboratories"  # type: ignore
        assert bound(demo, missing).get("tryton") is not None
        assert conn.execute(select(t.outbox.c.seq).where(t.outbox.c.failed_at.is_not(None))).first() is None
    assert orjson.loads(orjson.dumps(after["tryton"].to_json()))["counts"] == {
        "missing": 0, "extra": 0, "field": 0, "deleted": 0}
