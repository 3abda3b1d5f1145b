"""Sale orders against a real trytond: a confirmed order per reference, exactly once, resumable mid-way."""

from __future__ import annotations

import uuid

import pytest

from concord.connectors.base import DataRejected
from concord.connectors.tryton import TrytonConnector
from concord.connectors.tryton.sales import CONFIRMED_STATES, SALE, find_by_reference, place_confirmed_order
from tests.connectors.tryton.test_credit import make_party

pytestmark = pytest.mark.tryton


def test_an_order_is_created_and_confirmed_once_per_reference(connector: TrytonConnector) -> None:
    party = make_party(connector)
    reference = f"concord:contract:{uuid.uuid4().hex[:8]}"
    order = connector.place_order(party, reference, "Annual contract", ["5 seats", "Contract value 1200 EUR"])
    assert order.state in CONFIRMED_STATES and order.number, order
    again = connector.place_order(party, reference, "Annual contract", ["5 seats"])
    assert again.id == order.id and again.number == order.number
    assert [s.id for s in connector.list_sales(party)] == [order.id]  # one order, not two
    company = connector.config.company_id
    lines = connector.client.search_read("sale.line", [("sale", "=", order.id)], ["description"],
                                         context={"company": company})
    assert sorted(str(line["description"]) for line in lines) == ["5 seats", "Contract value 1200 EUR"]


def test_a_draft_left_by_a_crash_is_confirmed_not_duplicated(connector: TrytonConnector) -> None:
    party = make_party(connector)
    reference = f"concord:crash:{uuid.uuid4().hex[:8]}"
    company = connector.config.company_id
    address, = connector.client.search("party.address", [("party", "=", party)], limit=1)
    currency = connector.client.read("company.company", [company], ["currency"])[0]["currency"]
    # As a worker killed right after the create: the draft exists, nothing was confirmed.
    connector.client.create(SALE, [{"party": party, "company": company, "currency": currency, "reference": reference,
                                     "invoice_address": address, "shipment_address": address,
                                     "lines": [["create", [{"type": "comment", "description": "x"}]]]}],
                            {"company": company})
    draft = find_by_reference(connector.client, reference, company)
    assert draft is not None and draft.state == "draft"
    order = place_confirmed_order(connector.client, party, company, reference, "Resumed", ["x"])
    assert order.id == draft.id and order.state in CONFIRMED_STATES


def test_a_party_without_address_is_refused_naming_the_field(connector: TrytonConnector) -> None:
    party, = connector.client.create("party.party", [{"name": f"No Address {uuid.uuid4().hex[:6]}"}])
    with pytest.raises(DataRejected) as refused:
        connector.place_order(party, f"concord:na:{uuid.uuid4().hex[:8]}", "Contract", ["x"])
    assert refused.value.field == "party"
