"""Which entry and endpoint `concord reconcile` / `concord backfill` read from the one connections file
(decision 082). Nothing here calls a system: connectors are built, never used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from concord.connectors.stripe import StripeConnector
from concord.connectors.stripe.invoices import StripeInvoiceFeed
from concord.connectors.tryton import TrytonConnector
from concord.connectors.tryton.invoices import TrytonInvoiceFeed
from concord.delivery.residency import ResidencyRefused
from concord.reconciliation.connectors import open_source
from concord.yamlconf import ConfigError

TRYTON = {"url": "http://erp.example:8000", "database": "acme", "password_ref": "env:TEST_ERP_PASSWORD",
          "company_id": 1}
STRIPE_EU = {"base_url": "http://eu.billing.example", "api_key": "sk_test_eu"}
STRIPE_US = {"base_url": "http://us.billing.example", "api_key": "sk_test_us"}


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def systems(tmp_path: Path) -> Path:
    return _write(tmp_path / "systems.yaml", {"systems": {
        "tryton": {"connector": "tryton", "config": TRYTON},
        "erp_invoices": {"connector": "tryton_invoices", "system": "tryton", "config": TRYTON},
        "stripe": {"connector": "stripe", "region": "eu", "config": STRIPE_EU,
                   "endpoints": [{"region": "us", "config": STRIPE_US}]},
        "billing_invoices": {"connector": "stripe_invoices", "system": "stripe", "region": "eu",
                             "config": STRIPE_EU, "endpoints": [{"region": "us", "config": STRIPE_US}]}}})


def test_invoices_read_the_feed_ingested_as_the_system_and_anything_else_its_own_entry(systems: Path) -> None:
    invoices = open_source(systems, "tryton", "invoice", "default")
    parties = open_source(systems, "tryton", "account", "default")
    named = open_source(systems, "erp_invoices", "invoice", "default")  # the entry itself, by its name
    try:
        assert (invoices.entry, invoices.system, type(invoices.connector)) == ("erp_invoices", "tryton",
                                                                              TrytonInvoiceFeed)
        assert (parties.entry, parties.system, type(parties.connector)) == ("tryton", "tryton", TrytonConnector)
        assert (named.entry, named.system) == ("erp_invoices", "tryton")
        # the secret stays a reference, resolved at login (the twin test reads a Stripe key this way)
        assert isinstance(parties.connector, TrytonConnector)
        assert parties.connector.config.password_ref == "env:TEST_ERP_PASSWORD"
    finally:
        for source in (invoices, parties, named):
            source.close()


def test_a_pinned_tenant_reads_its_regions_endpoint_and_never_another(systems: Path) -> None:
    unpinned = open_source(systems, "stripe", "invoice", "default")
    pinned = open_source(systems, "stripe", "invoice", "default", {"default": "us"})
    try:
        assert isinstance(pinned.connector, StripeInvoiceFeed) and isinstance(unpinned.connector, StripeInvoiceFeed)
        assert isinstance(pinned.connector.connector, StripeConnector)
        assert pinned.connector.connector.config.base_url == STRIPE_US["base_url"]
        assert unpinned.connector.connector.config.base_url == STRIPE_EU["base_url"]
    finally:
        pinned.close()
        unpinned.close()
    with pytest.raises(ResidencyRefused, match="region 'ap'"):
        open_source(systems, "stripe", "account", "default", {"default": "ap"})


def test_two_entries_for_one_system_are_refused_unless_one_is_named(tmp_path: Path) -> None:
    feed = {"connector": "tryton_invoices", "system": "tryton", "config": TRYTON}
    path = _write(tmp_path / "two.yaml", {"systems": {"erp_a": feed, "erp_b": feed}})
    with pytest.raises(ConfigError, match=r"two\.yaml:\d+: systems\.erp_b: a second entry reads 'tryton' invoice"):
        open_source(path, "tryton", "invoice", "default")
    chosen = open_source(path, "erp_b", "invoice", "default")
    chosen.close()
    assert chosen.entry == "erp_b"


def test_a_flat_file_is_read_as_before_and_marked_deprecated(tmp_path: Path) -> None:
    path = _write(tmp_path / "flat.yaml", {"stripe": STRIPE_EU, "hubspot": {"access_token": "pat-x"}})
    source = open_source(path, "stripe", "account", "default")
    source.close()
    assert source.flat and isinstance(source.connector, StripeConnector)
    hubspot = open_source(path, "hubspot", "account", "default")  # the old commands read HubSpot from it too
    hubspot.close()
    assert hubspot.entry == "hubspot"
