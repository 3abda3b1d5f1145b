"""Tenant mapping overrides (issue #8, decision 071): files under mappings/tenants/<tenant>/, validated at
start-up, and used for that tenant's changes only — inbound, outbound, and in the recorded mapping version."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from concord.cli.main import build
from concord.hubconfig import Runtime, bundled_config_dir, load_runtime
from concord.ingest.models import ChangeError, ChangePublic
from concord.ingest.service import IngestService
from concord.mappings.mapper import Mapper
from concord.mappings.registry import bundled_specs_dir
from concord.storage import queries
from concord.yamlconf import ConfigError
from tests.factories import change

# Both tenants sync Salesforce and have Concord create their Zendesk organizations (bundled concord.yaml).
T, U = "default", "sandbox"


def spec_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((bundled_specs_dir() / f"{name}.yaml").read_text())
    return loaded


def key_account() -> dict[str, Any]:
    """salesforce/account with Enterprise called 'Key Account' in T's Salesforce."""
    spec = spec_of("salesforce_account")
    for field in spec["fields"]:
        if field["canonical"] == "segment":
            field["values"]["enterprise"] = "Key Account"
    return spec


def legal_name() -> dict[str, Any]:
    """zendesk/account sending the name to a custom organization field in T's Zendesk."""
    spec = spec_of("zendesk_account")
    for field in spec["fields"]:
        if field["canonical"] == "name":
            field["native"] = "organization_fields.legal_name"
    return spec


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    target.mkdir()
    for name in ("concord.yaml", "ownership.yaml"):
        shutil.copyfile(bundled_config_dir() / name, target / name)
    shutil.copytree(bundled_specs_dir(), target / "mappings")
    return target


def write(config_dir: Path, tenant: str, name: str, spec: dict[str, Any] | str) -> Path:
    folder = config_dir / "mappings" / "tenants" / tenant
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_runtime(config_dir)
    return info.value.problems


@pytest.fixture
def overridden(config_dir: Path) -> Runtime:
    write(config_dir, T, "salesforce_account", key_account())
    write(config_dir, T, "zendesk_account", legal_name())
    return load_runtime(config_dir)


@pytest.fixture
def service(engine: Engine, overridden: Runtime) -> Iterator[IngestService]:
    svc = IngestService(engine, overridden)
    svc.start()
    yield svc
    svc.stop()


def ingest(service: IngestService, tenant: str, fields: dict[str, Any], ext: str) -> ChangePublic | ChangeError:
    return service.ingest([change("salesforce", ext, fields, tenant=tenant)])[0]


def test_lookups_take_the_tenant(overridden: Runtime) -> None:
    own = overridden.mappings.get("salesforce", "account", T)
    hub = overridden.mappings.get("salesforce", "account", U)
    assert own is not None and own.spec.tenant == T and own.spec.label == "salesforce/account[default]@1"
    assert hub is not None and hub.spec.tenant is None and hub.spec.label == "salesforce/account@1"
    assert overridden.mappings.get("salesforce", "account") is hub  # no tenant: the hub-wide spec
    assert overridden.mappings.get("hubspot", "account", T) is overridden.mappings.get("hubspot", "account")
    zendesk = {m.spec.system: m for m in overridden.mappings.targets("account", T)}["zendesk"]
    assert zendesk.spec.tenant == T
    assert {m.spec.system: m for m in overridden.mappings.targets("account", U)}["zendesk"].spec.tenant is None


def test_targets_are_cached_until_a_swap(overridden: Runtime) -> None:
    mappings = overridden.mappings
    first = mappings.targets("account", U)
    assert mappings.targets("account", U) is first  # no per-change rebuild
    hub = mappings.get("zendesk", "account")
    assert hub is not None
    replacement = Mapper(hub.spec.model_copy(update={"tenant": U, "version": 9}), mappings.transforms)
    mappings.put(replacement)
    assert replacement in mappings.targets("account", U)
    mappings.drop(U, "zendesk", "account")
    assert replacement not in mappings.targets("account", U) and hub in mappings.targets("account", U)


def test_inbound_uses_the_tenants_override_only(service: IngestService, engine: Engine) -> None:
    mine = ingest(service, T, {"Name": "Big Co", "Type": "Key Account"}, "001T")
    assert isinstance(mine, ChangePublic), mine
    assert mine.mapping_version == "salesforce/account[default]@1"
    theirs = ingest(service, U, {"Name": "Big Co", "Type": "Key Account"}, "001U")
    assert isinstance(theirs, ChangeError) and theirs.field == "fields.Type"  # U still speaks the hub-wide values
    hub = ingest(service, U, {"Name": "Big Co", "Type": "Enterprise"}, "001V")
    assert isinstance(hub, ChangePublic) and hub.mapping_version == "salesforce/account@1"
    assert isinstance(ingest(service, T, {"Name": "Big Co", "Type": "Enterprise"}, "001W"), ChangeError)
    with engine.connect() as conn:
        record = queries.golden_record(conn, mine.canonical_id)
        row = queries.change(conn, mine.change_id)
    assert record is not None and record.value("segment") == "enterprise"
    assert record.fields["name"].provenance.mapping_version == "salesforce/account[default]@1"
    assert row is not None and row["mapping_version"] == "salesforce/account[default]@1"


def _zendesk_create(engine: Engine, canonical_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        [command] = queries.outbox(conn, kind="command", target="zendesk", canonical_id=canonical_id)
    payload: dict[str, Any] = orjson.loads(command["payload"])
    return payload


def test_outbound_uses_the_tenants_override_only(service: IngestService, engine: Engine) -> None:
    mine = ingest(service, T, {"Name": "Acme"}, "001T")
    theirs = ingest(service, U, {"Name": "Acme"}, "001U")
    assert isinstance(mine, ChangePublic) and isinstance(theirs, ChangePublic)
    to_t, to_u = _zendesk_create(engine, mine.canonical_id), _zendesk_create(engine, theirs.canonical_id)
    assert to_t["fields"]["organization_fields"]["legal_name"] == "Acme" and "name" not in to_t["fields"]
    assert to_t["mapping_version"] == "zendesk/account[default]@1"
    assert to_u["fields"]["name"] == "Acme" and "legal_name" not in to_u["fields"].get("organization_fields", {})
    assert to_u["mapping_version"] == "zendesk/account@1"


def test_bad_override_names_file_line_and_field(config_dir: Path) -> None:
    spec = key_account()
    spec["fields"][1]["canonical"] = "websiet"
    path = write(config_dir, T, "salesforce_account", spec)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "websiet" in text)
    [problem] = problems(config_dir)
    assert problem.startswith(f"{path}:{line}: fields[1].canonical:") and "websiet" in problem


def test_override_for_an_unknown_tenant_is_refused(config_dir: Path) -> None:
    path = write(config_dir, "nobody", "salesforce_account", key_account())
    assert problems(config_dir) == [f"{path}: tenant 'nobody' (its folder) is not declared in concord.yaml"]


def test_override_without_a_hub_wide_spec_is_refused(config_dir: Path) -> None:
    (config_dir / "mappings" / "zendesk_account.yaml").unlink()
    path = write(config_dir, T, "zendesk_account", legal_name())
    assert problems(config_dir) == [f"{path}: no hub-wide mapping for system 'zendesk' entity 'account' to override"]


def test_override_naming_another_tenant_is_refused(config_dir: Path) -> None:
    path = write(config_dir, T, "salesforce_account", {**key_account(), "tenant": U})
    [problem] = problems(config_dir)
    assert problem.startswith(f"{path}:") and "names tenant 'sandbox' but lies under mappings/tenants/default/" \
        in problem


def test_hub_wide_file_naming_a_tenant_is_refused(config_dir: Path) -> None:
    path = config_dir / "mappings" / "salesforce_account.yaml"
    path.write_text(yaml.safe_dump({**key_account(), "tenant": T}), encoding="utf-8")
    [problem] = problems(config_dir)
    assert problem.startswith(f"{path}:") and "tenant: a hub-wide mapping names no tenant" in problem


def test_validate_command_covers_overrides(config_dir: Path) -> None:
    write(config_dir, T, "salesforce_account", key_account())
    runner = CliRunner()
    good = runner.invoke(build(), ["mappings", "validate"], env={"CONCORD_CONFIG_DIR": str(config_dir)})
    assert good.exit_code == 0, good.output
    assert "salesforce/account[default]@1" in good.stdout and "1 tenant overrides valid" in good.stdout
    folder = runner.invoke(build(), ["mappings", "validate", str(config_dir / "mappings")])
    assert folder.exit_code == 0 and "salesforce/account[default]@1" in folder.stdout
    write(config_dir, "nobody", "salesforce_account", key_account())
    bad = runner.invoke(build(), ["mappings", "validate", str(config_dir / "mappings")])
    assert bad.exit_code == 2 and "tenant'nobody'(itsfolder)isnotdeclaredinconcord.yaml" in "".join(bad.stderr.split())


def test_override_whose_label_would_not_fit_the_change_log_is_refused(config_dir: Path) -> None:
    tenant = "t" * 40
    hub = config_dir / "concord.yaml"
    hub.write_text(hub.read_text() + f"  {tenant}:\n    systems: [salesforce]\n", encoding="utf-8")
    path = write(config_dir, tenant, "salesforce_account", key_account())
    [problem] = problems(config_dir)
    assert problem.startswith(f"{path}: tenant name") and "too long for the mapping version label" in problem
