"""A worker's connections file: all six connectors built from it, governed on one shared store; bad files refused
with the field's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord.connectors.runtime.governor_store import InMemoryGovernorStore
from concord.connectors.scim import ScimConnector
from concord.scale.connectors import load_connectors
from concord.scale.settings import ScaleConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "connectors.yaml.example"


def test_the_example_builds_all_six_connectors_and_the_invoice_feeds_on_one_shared_governor_store(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ScimConnector, "discover", lambda self: self)  # the example's IdP does not exist
    store = InMemoryGovernorStore()
    built = load_connectors(EXAMPLE, store)
    assert {name: type(c).__name__ for name, c in built.items()} == {
        "salesforce": "SalesforceConnector", "hubspot": "HubSpotConnector", "tryton": "TrytonConnector",
        "stripe": "StripeConnector", "zendesk": "ZendeskConnector", "scim": "ScimConnector",
        "erp_invoices": "TrytonInvoiceFeed", "billing_invoices": "StripeInvoiceFeed"}
    governors = [built["salesforce"].client.governor, built["hubspot"].client.governor,  # type: ignore[attr-defined]
                 built["zendesk"].client.governor, built["scim"].client.governor,  # type: ignore[attr-defined]
                 built["stripe"].client._caller._governor,  # type: ignore[attr-defined]
                 built["billing_invoices"].connector.client._caller._governor]  # type: ignore[attr-defined]
    assert all(g._store is store for g in governors)


def test_a_bad_connector_config_names_the_system_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("systems:\n  erp:\n    connector: tryton\n    config: {url: http://erp:8000, database: x}\n")
    with pytest.raises(ScaleConfigError, match=r"systems\.erp\.config\.company_id: Field required"):
        load_connectors(bad)
    bad.write_text("systems:\n  crm:\n    connector: dynamics\n")
    with pytest.raises(ScaleConfigError, match=r"systems\.crm\.connector must be one of"):
        load_connectors(bad)


def test_an_unreachable_scim_provider_stops_the_start_with_its_url(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("systems:\n  scim:\n    connector: scim\n    config:\n      base_url: http://127.0.0.1:9/scim\n"
                   "      retry: {max_attempts: 1}\n")
    with pytest.raises(ScaleConfigError, match=r"SCIM provider at base_url=http://127.0.0.1:9/scim"):
        load_connectors(cfg)
