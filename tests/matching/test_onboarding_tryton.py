"""Onboarding against the real Tryton server: a customer the ERP already holds under a variant name is linked,
not created a second time; a namesake with another tax id is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from concord.connectors.tryton import TrytonConnector
from concord.hubconfig import Runtime
from concord.matching.decision import Outcome
from concord.matching.onboarding import decide_party, erp_candidates, link_or_create
from concord.sandbox.tryton import TrytonServer
from tests.connectors.tryton.support import connector_config, require_trytond, server_settings

ACME_VAT = "BE0897290877"


@pytest.fixture(scope="module")
def tryton() -> Iterator[TrytonConnector]:
    require_trytond()
    with TrytonServer(server_settings()) as server:
        connector = TrytonConnector(connector_config(server))
        connector.create("party", {"name": "ACME Corp.", "tax_identifier.type": "eu_vat",
                                   "tax_identifier.code": ACME_VAT, "address.city": "Brussels",
                                   "address.country": "BE"}, "acme-erp")
        connector.create("party", {"name": "Acme Bakery", "address.city": "Ghent", "address.country": "BE"},
                         "acme-bakery")
        yield connector
        connector.close()


def test_variant_name_with_the_same_tax_id_links_to_the_existing_party(tryton: TrytonConnector,
                                                                         runtime: Runtime) -> None:
    account = {"name": "Acme Corporation", "website": "https://acme.example",
               "tax_profile.tax_ids": [{"type": "eu_vat", "value": "BE 0897.290.877", "country": "BE"}],
               "legal_address.country": "BE", "legal_address.city": "Brussels"}
    candidates = erp_candidates(tryton, "party", account)
    assert {c.fields["name"] for c in candidates} == {"ACME Corp.", "Acme Bakery"}
    mapper = runtime.mappings.get("tryton", "account")
    assert mapper is not None
    decision = decide_party(account, candidates, mapper)
    assert decision.outcome is Outcome.LINK
    linked = tryton.read("party", str(decision.external_id))
    assert linked is not None and linked.fields["name"] == "ACME Corp."
    assert decision.best is not None and {e.field: e.level for e in decision.best.evidence}["tax_id"] == "shared"
    assert len(tryton.search("party", {"name": "%acme%"})) == 2  # nothing was created


def test_a_namesake_with_another_tax_id_is_not_linked(tryton: TrytonConnector, runtime: Runtime) -> None:
    account = {"name": "Acme Corporation",
               "tax_profile.tax_ids": [{"type": "eu_vat", "value": "BE0403170701", "country": "BE"}],
               "legal_address.country": "BE"}
    mapper = runtime.mappings.get("tryton", "account")
    assert mapper is not None
    decision = link_or_create(tryton, mapper, account)
    assert decision.outcome is not Outcome.LINK and decision.external_id is None
