"""The workflow runtime's connections file: the `systems:` format of the scale worker, regional endpoints
included, and the deprecated flat format converted into it (decision 072). Nothing here calls a system."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from concord.connectors.stripe import StripeConnector
from concord.connectors.tryton import TrytonConnector
from concord.connectors.zendesk import ZendeskConnector
from concord.delivery.residency import ResidencyRefused
from concord.settings import Settings
from concord.workflows.connections import load_connections, read_connections
from concord.workflows.hosting import NoConnections, connections_file
from concord.yamlconf import ConfigError

TRYTON = {"url": "http://erp.example:8000", "database": "acme", "password": "x", "company_id": 1}
STRIPE_US = {"base_url": "http://us.billing.example", "api_key": "sk_test_us"}
STRIPE_EU = {"base_url": "http://eu.billing.example", "api_key": "sk_test_eu"}
ZENDESK = {"base_url": "http://desk.example", "email": "a@desk.example", "api_token": "t"}


def _write(path: Path, document: object) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_the_deprecated_flat_format_still_loads_through_the_same_builders(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path / "flat.yaml", {"tryton": TRYTON, "stripe": STRIPE_US, "zendesk": ZENDESK})
    with caplog.at_level(logging.WARNING, logger="concord.workflows.connections"):
        document = read_connections(path)
        targets = load_connections(path, {"eu-co": "eu"})
    assert document["systems"]["stripe"] == {"connector": "stripe", "config": STRIPE_US}
    assert "deprecated flat connections format" in caplog.text
    try:
        assert sorted(targets.default) == ["stripe", "tryton", "zendesk"]
        assert isinstance(targets.default["tryton"], TrytonConnector)
        assert isinstance(targets.default["zendesk"], ZendeskConnector)
        assert targets.residency.connector("default", "stripe", targets.default) is targets.default["stripe"]
        with pytest.raises(ResidencyRefused, match="'eu'"):  # no region declared: a pinned tenant goes nowhere
            targets.residency.connector("eu-co", "stripe", targets.default)
    finally:
        targets.close()


def test_the_systems_format_with_regional_endpoints(tmp_path: Path) -> None:
    path = _write(tmp_path / "systems.yaml", {"systems": {
        "stripe": {"connector": "stripe", "region": "us", "config": STRIPE_US,
                   "endpoints": [{"region": "eu", "config": STRIPE_EU}]},
        "tryton": {"connector": "tryton", "config": TRYTON}}})
    targets = load_connections(path, {"eu-co": "eu", "us-co": "us"})
    try:
        eu = targets.residency.connector("eu-co", "stripe", targets.default)
        assert isinstance(eu, StripeConnector) and eu is not targets.default["stripe"]
        assert targets.residency.connector("us-co", "stripe", targets.default) is targets.default["stripe"]
        assert targets.residency.connector("default", "stripe", targets.default) is targets.default["stripe"]
        assert sorted(targets.endpoints()) == ["stripe", "stripe@eu", "tryton"]  # what /readyz probes
    finally:
        targets.close()


@pytest.mark.parametrize(("document", "where"), [
    ({"systems": {"stripe": {"connector": "stripe", "config": {**STRIPE_US, "base_url": "ftp://x"}}}},
     r"systems\.yaml:5: systems\.stripe\.config\.base_url"),
    ({"systems": {"stripe": {"connector": "stripe", "config": STRIPE_US,
                             "endpoints": [{"region": "eu", "config": {"api_key": "k", "base_url": "ftp://x"}}]}}},
     r"systems\.stripe\.endpoints\[0\]\.config\.base_url"),
    ({"systems": {"stripe": {"connector": "stripe", "region": "eu", "config": STRIPE_US,
                             "endpoints": [{"region": "eu", "config": STRIPE_EU}]}}},
     r"systems\.stripe\.endpoints\[0\]\.region: a second endpoint in region 'eu'"),
    ({"systems": {"stripe": {"connector": "stripes", "config": STRIPE_US}}}, r"systems\.stripe\.connector"),
    ({"systems": {"stripe": {"connector": "stripe", "config": STRIPE_US, "endpoints": [{"config": STRIPE_EU}]}}},
     r"systems\.stripe\.endpoints\[0\]\.region"),
    ({"stripe": {**STRIPE_US, "base_url": "ftp://x"}}, r"flat\.yaml:\d+: stripe\.base_url"),
])
def test_a_bad_file_is_refused_naming_the_field_before_any_system_is_built(
        tmp_path: Path, document: object, where: str) -> None:
    name = "flat.yaml" if "systems" not in document else "systems.yaml"  # type: ignore[operator]
    path = _write(tmp_path / name, document)
    with pytest.raises(ConfigError, match=where):
        read_connections(path)
    with pytest.raises(NoConnections, match=where):  # what `concord serve` / `workflows worker` say at start
        connections_file(Settings(database_url="sqlite:///unused.db"), path)


def test_the_runtime_accepts_the_same_file_as_the_scale_worker() -> None:
    example = Path(__file__).parents[2] / "deploy" / "connectors.yaml.example"
    document = read_connections(example)
    assert {"salesforce", "tryton", "stripe", "zendesk", "scim", "hubspot"} <= set(document["systems"])
