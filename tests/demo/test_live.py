"""The live demo: one customer through the Salesforce twin, a real Tryton server, Stripe and Zendesk twins."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from concord.demo.live import TENANT, live_demo, story, system_views
from concord.hubconfig import Runtime
from concord.storage import queries
from concord.storage import tables as t
from tests.connectors.tryton.support import require_trytond


@pytest.mark.tryton
def test_customer_moves_between_crm_erp_billing_and_support(runtime: Runtime, tmp_path: Path) -> None:
    require_trytond()
    lines: list[str] = []
    with live_demo(runtime, tmp_path) as demo:
        state = story(demo, lines.append)
        views = {system: (rid, values) for system, rid, values in system_views(demo, state)}
        with demo.engine.connect() as conn:
            failed = conn.execute(select(t.outbox.c.last_error).where(t.outbox.c.failed_at.is_not(None))).all()
            pending = conn.execute(select(t.outbox.c.seq).where(t.outbox.c.kind == "command",
                                                                 t.outbox.c.published_at.is_(None))).all()
            last_sf = next(c for c in queries.changes_of(conn, state["customer"]) if c["system"] == "salesforce")
            golden = queries.golden_record(conn, state["customer"])
    assert not failed and not pending
    customer = state["customer"]
    _, tryton = views["tryton"]
    assert tryton["name"] == "Globex Corporation Ltd" and tryton["code"] == customer
    assert views["salesforce"][1]["ERP_Customer_Number__c"] == tryton["code"]  # ERP's number written back to CRM
    assert views["zendesk"][1] == {"name": "Globex Corporation", "external_id": customer}
    assert views["stripe"][1] == {"name": "Globex Corporation Ltd", "email": "ap@globex.example"}
    assert golden is not None and golden.tenant == TENANT
    assert golden.value("legal_name") == "Globex Corporation Ltd" and golden.value("name") == "Globex Corporation"
    assert golden.fields["legal_name"].provenance.system == "tryton"
    # Salesforce reported back the ERP number Concord wrote to it: recognised as an echo, not a conflict.
    decision = orjson.loads(last_sf["decision"])
    assert decision["echoes"] == ["erp_customer_number"] and decision["rejected"] == []
    assert len(lines) == 4
