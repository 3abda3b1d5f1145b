"""`concord init`, `concord mappings validate` and `concord schema export` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from concord.canonical.fields import field_catalog
from concord.canonical.models import ENTITY_TYPES, SCHEMA_VERSION
from concord.cli.main import build
from concord.hubconfig import bundled_config_dir, load_runtime
from concord.mappings.registry import bundled_specs_dir

JSON_SCHEMA_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}


def run(*args: str, config_dir: Path | None = None) -> Result:
    env = {"CONCORD_CONFIG_DIR": None if config_dir is None else str(config_dir)}
    return CliRunner().invoke(build(), list(args), env=env)


def squash(text: str) -> str:
    """Rich wraps long lines at the terminal width; compare without whitespace."""
    return "".join(text.split())


def test_init_writes_a_config_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert f"CONCORD_CONFIG_DIR={target}" in squash(result.stdout)
    assert (target / "concord.yaml").read_bytes() == (bundled_config_dir() / "concord.yaml").read_bytes()
    assert (target / "ownership.yaml").is_file()
    shipped = sorted(p.name for p in bundled_specs_dir().glob("*.yaml"))
    assert sorted(p.name for p in (target / "mappings").iterdir()) == shipped
    checked = run("mappings", "validate", config_dir=target)
    assert checked.exit_code == 0, checked.output
    assert f"{len(shipped)} mappings valid" in checked.stdout
    assert load_runtime(target).config_dir == target


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run("init", str(tmp_path))
    assert result.exit_code == 2
    assert squash(f"{tmp_path} is not empty (use --force to overwrite)") in squash(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_init_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "concord.yaml").write_text("systems: {}\n")
    result = run("init", str(tmp_path), "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "concord.yaml").read_bytes() == (bundled_config_dir() / "concord.yaml").read_bytes()


def test_init_into_an_existing_empty_directory(tmp_path: Path) -> None:
    assert run("init", str(tmp_path)).exit_code == 0
    assert (tmp_path / "mappings" / "salesforce_account.yaml").is_file()


def test_validate_a_good_mappings_folder(tmp_path: Path) -> None:
    result = run("mappings", "validate", str(bundled_specs_dir()))
    assert result.exit_code == 0, result.output
    assert "13 mappings valid" in result.stdout and "salesforce/account@1" in result.stdout
    assert result.stderr == ""


BAD_MAPPING = """\
system: crm
object: Company
entity: account
version: 1
external_id: Id
fields:
  - {canonical: name, native: Name}
  - {canonical: nmae, native: Nmae}
  - {canonical: phone, native: Phone, transform: shout}
  - canonical: segment
    native: Tier
    values: {smb: S, mid_market: S, enterprise: E}
"""


def test_validate_reports_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "crm_account.yaml"
    path.write_text(BAD_MAPPING)
    result = run("mappings", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {path}:8: fields[1].canonical: 'nmae' is not a field of account"
    assert lines[1].startswith(f"{path}:9: fields[2].transform: unknown transform 'shout'; known: bool_text")
    assert lines[2] == (f"{path}:12: fields[3].values: value map must be one-to-one so that inbound values can be "
                        "read back")


def test_validate_reports_malformed_yaml_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "crm_account.yaml"
    path.write_text(BAD_MAPPING.replace("native: Name}", "native: [Name}"))
    result = run("mappings", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:7: malformed YAML: ")


def test_validate_an_empty_folder(tmp_path: Path) -> None:
    result = run("mappings", "validate", str(tmp_path))
    assert result.exit_code == 2 and f"{tmp_path}: no mapping files (*.yaml)" in result.stderr


def test_validate_the_configured_directory_reports_every_file(tmp_path: Path) -> None:
    assert run("init", str(tmp_path)).exit_code == 0
    ownership = tmp_path / "ownership.yaml"
    ownership.write_text(ownership.read_text().replace("    industry: {owner", "    industy: {owner"))
    result = run("mappings", "validate", config_dir=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {ownership}:")
    assert "entities.account.industy: matches no field of account" in result.stderr


def test_validate_prints_messages_verbatim(tmp_path: Path) -> None:
    (tmp_path / "crm_account.yaml").write_text(BAD_MAPPING.replace("system: crm", "system: Big-CRM"))
    result = run("mappings", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "String should match pattern '^[a-z][a-z0-9_]*$'" in result.stderr


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [r for k, v in node.items() for r in ([v] if k == "$ref" else _refs(v))]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _types(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["type"]} if isinstance(node.get("type"), str) else set()
        return found | {t for k, v in node.items() if k not in ("properties", "$defs") for t in _types(v)} | {
            t for key in ("properties", "$defs") for v in node.get(key, {}).values() for t in _types(v)}
    if isinstance(node, list):
        return {t for item in node for t in _types(item)}
    return set()


def test_schema_export_writes_one_schema_per_entity(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = run("schema", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{e}.v{SCHEMA_VERSION}.schema.json" for e in ENTITY_TYPES)
    for entity, model in ENTITY_TYPES.items():
        schema = json.loads((out / f"{entity}.v{SCHEMA_VERSION}.schema.json").read_text())
        assert schema["$id"] == f"https://concord.dev/schemas/{entity}.v{SCHEMA_VERSION}.schema.json"
        assert schema["type"] == "object" and schema["title"] == model.__name__
        assert schema["additionalProperties"] is False
        assert schema["properties"]["schema_version"] == {"default": SCHEMA_VERSION, "title": "Schema Version",
                                                          "type": "integer"}
        top = {path.split(".")[0] for path in field_catalog(entity)}
        assert set(schema["properties"]) == top | {"schema_version"}
        for ref in _refs(schema):
            assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"], ref
        assert _types(schema) <= JSON_SCHEMA_TYPES


def test_exported_schema_describes_enums_and_constraints(tmp_path: Path) -> None:
    assert run("schema", "export", "--out", str(tmp_path)).exit_code == 0
    account = json.loads((tmp_path / "account.v1.schema.json").read_text())
    assert account["$defs"]["LifecycleState"]["enum"] == ["prospect", "qualified", "onboarding", "active",
                                                          "credit_hold", "suspended", "closed"]
    currency = account["properties"]["currency"]["anyOf"][0]
    assert currency == {"pattern": "^[A-Z]{3}$", "type": "string"}
    assert account["$defs"]["Address"]["properties"]["country"]["anyOf"][0]["pattern"] == "^[A-Z]{2}$"


def test_exported_schema_is_valid_against_the_metaschema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert run("schema", "export", "--out", str(tmp_path)).exit_code == 0
    for path in tmp_path.iterdir():
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        entity = ENTITY_TYPES[path.name.split(".")[0]]()
        jsonschema.validate(entity.model_dump(mode="json"), schema)


def test_a_bad_setting_is_refused_naming_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(build(), ["mappings", "proposals"], env={
        "CONCORD_MAPPING_SYNC_S": "-1", "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert result.exit_code == 2
    assert "CONCORD_MAPPING_SYNC_S:" in result.output and "greater than or equal to 0" in result.output
