"""The hub configuration: concord.yaml + ownership.yaml + mappings/, validated together at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from concord.hubconfig import INTERNAL_SYSTEMS, Runtime, SystemKind, bundled_config_dir, load_runtime
from concord.mappings.registry import bundled_specs_dir
from concord.yamlconf import ConfigError


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled configuration, mappings included."""
    target = tmp_path / "conf"
    target.mkdir()
    for name in ("concord.yaml", "ownership.yaml"):
        shutil.copyfile(bundled_config_dir() / name, target / name)
    shutil.copytree(bundled_specs_dir(), target / "mappings")
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace `old` (once) and return the 1-based line where the replacement starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_runtime(config_dir)
    return info.value.problems


def test_bundled_runtime(runtime: Runtime) -> None:
    assert runtime.config_dir == bundled_config_dir()
    assert set(runtime.hub.systems) == {"salesforce", "hubspot", "tryton", "stripe", "zendesk", "scim"}
    assert runtime.hub.systems["tryton"].kind is SystemKind.ERP
    assert runtime.hub.tenants["default"].auto_create == {"zendesk": ["account"]}
    assert runtime.mappings.systems() <= set(runtime.hub.systems)
    for tenant in runtime.hub.tenants.values():
        assert set(tenant.systems) <= set(runtime.hub.systems)


def test_knows_configured_and_internal_systems(runtime: Runtime) -> None:
    assert all(runtime.knows_system(s) for s in [*runtime.hub.systems, *INTERNAL_SYSTEMS])
    assert not runtime.knows_system("sap")


def test_copied_configuration_loads(config_dir: Path) -> None:
    loaded = load_runtime(config_dir)
    assert loaded.config_dir == config_dir and len(loaded.mappings.mappers) == 13


def test_without_mappings_folder_the_bundled_mappings_are_used(config_dir: Path) -> None:
    shutil.rmtree(config_dir / "mappings")
    assert len(load_runtime(config_dir).mappings.mappers) == 13


def test_tenant_naming_an_unknown_system(config_dir: Path) -> None:
    edit(config_dir / "concord.yaml", "systems: [salesforce, tryton,", "systems: [salesforce, sap, tryton,")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'concord.yaml'}:")
    assert "tenants.default: unknown system 'sap'" in problem


def test_tenant_naming_an_unknown_system_names_its_line(config_dir: Path) -> None:
    line = edit(config_dir / "concord.yaml", "systems: [salesforce, tryton,", "systems: [salesforce, sap, tryton,")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'concord.yaml'}:{line}: tenants.default")


def test_auto_create_for_unknown_system_or_entity(config_dir: Path) -> None:
    edit(config_dir / "concord.yaml", "zendesk: [account]", "zendesk: [acount]")
    assert "tenants.default.auto_create.zendesk: unknown entity 'acount'" in problems(config_dir)[0]
    edit(config_dir / "concord.yaml", "zendesk: [acount]", "zendsk: [account]")
    assert "tenants.default: unknown system 'zendsk'" in problems(config_dir)[0]


def test_field_errors_in_concord_yaml_name_their_line(config_dir: Path) -> None:
    line = edit(config_dir / "concord.yaml", "tryton: {kind: erp,", "tryton: {kind: mainframe,")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'concord.yaml'}:{line}: systems.tryton.kind: Input should be 'crm'")


def test_malformed_concord_yaml(config_dir: Path) -> None:
    line = edit(config_dir / "concord.yaml", "  tryton: {kind: erp, description: Tryton ERP (JSON-RPC)}",
                "  tryton: kind: erp")
    assert problems(config_dir) == [
        f"{config_dir / 'concord.yaml'}:{line}: malformed YAML: mapping values are not allowed here"]


def test_ownership_rule_matching_no_field(config_dir: Path) -> None:
    edit(config_dir / "ownership.yaml", "    industry: {owner: salesforce, mode: owner_only}\n",
         "    industy: {owner: salesforce, mode: owner_only}\n")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'ownership.yaml'}:")
    assert "entities.account.industy: matches no field of account" in problem


def test_ownership_rule_matching_no_field_names_its_line(config_dir: Path) -> None:
    line = edit(config_dir / "ownership.yaml", "    industry: {owner: salesforce, mode: owner_only}\n",
                "    industy: {owner: salesforce, mode: owner_only}\n")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'ownership.yaml'}:{line}: entities.account.industy")


def test_ownership_leaving_fields_uncovered(config_dir: Path) -> None:
    edit(config_dir / "ownership.yaml", '    "*": {owner: zendesk, mode: owner_only}\n', "")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'ownership.yaml'}:")
    assert "entities.entitlement: no rule covers product, support_tier, seats, start_date, end_date, status" in problem


def test_ownership_field_errors_name_their_line(config_dir: Path) -> None:
    line = edit(config_dir / "ownership.yaml", "industry: {owner: salesforce, mode: owner_only}",
                "industry: {owner: salesforce, mode: whenever}")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'ownership.yaml'}:{line}: entities.account.industry.mode: Input")


def test_ownership_owner_must_be_a_known_system(config_dir: Path) -> None:
    line = edit(config_dir / "ownership.yaml", "legal_name: {owner: tryton,", "legal_name: {owner: tryon,")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{config_dir / 'ownership.yaml'}:{line}:") and "tryon" in problem


def test_mapping_errors_surface_through_the_runtime(config_dir: Path) -> None:
    line = edit(config_dir / "mappings" / "zendesk_account.yaml", "{canonical: name, native: name}",
                "{canonical: nmae, native: name}")
    spec = config_dir / "mappings" / "zendesk_account.yaml"
    assert problems(config_dir) == [f"{spec}:{line}: fields[0].canonical: 'nmae' is not a field of account"]


def test_mapping_for_undeclared_system(config_dir: Path) -> None:
    edit(config_dir / "concord.yaml", "  scim: {kind: identity, description: SCIM 2.0 identity provider}\n", "")
    edit(config_dir / "concord.yaml", "zendesk, scim]", "zendesk]")
    edit(config_dir / "concord.yaml", "  hubspot: {kind: crm, description: HubSpot CRM v3}\n", "")
    edit(config_dir / "concord.yaml", "systems: [hubspot, tryton,", "systems: [tryton,")
    ownership = config_dir / "ownership.yaml"  # its acme-eu overrides name hubspot too: drop them
    ownership.write_text(ownership.read_text().split("\ntenants:")[0] + "\n")
    assert problems(config_dir) == [
        f"{config_dir / 'mappings'}: mappings for systems not declared in concord.yaml: ['hubspot']"]


def test_missing_file(config_dir: Path) -> None:
    (config_dir / "ownership.yaml").unlink()
    assert problems(config_dir) == [f"{config_dir / 'ownership.yaml'}: cannot read: No such file or directory"]
