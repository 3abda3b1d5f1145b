"""Mapping specs are validated at load time; every problem names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord.mappings.registry import bundled_specs_dir, load_mapping_set, load_specs
from concord.mappings.spec import Direction
from concord.mappings.transforms import builtin_transforms
from concord.yamlconf import ConfigError

HEADER = """\
system: crm
object: Company
entity: account
version: 1
external_id: Id
fields:
"""  # fields start on line 7


def write(directory: Path, body: str, name: str = "crm_account.yaml", header: str = HEADER) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(header + body, encoding="utf-8")
    return path


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_specs(directory)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_valid_spec_loads(tmp_path: Path) -> None:
    write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: segment, native: Tier, direction: inbound,"
                    " values: {smb: S}}\nignore: [attributes.*]\n")
    [spec] = load_specs(tmp_path)
    assert spec.label == "crm/account@1" and spec.fields[1].direction is Direction.INBOUND
    assert spec.ignore == ["attributes.*"]


def test_unknown_canonical_field_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: nmae, native: Nmae}\n")
    assert problems_of(tmp_path) == [f"{path}:8: fields[1].canonical: 'nmae' is not a field of account"]


def test_unknown_canonical_field_in_block_style_names_the_key_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - canonical: name\n    native: Name\n  - native: Phone\n    canonical: phnoe\n")
    assert problems_of(tmp_path) == [f"{path}:10: fields[1].canonical: 'phnoe' is not a field of account"]


def test_unknown_transform(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: phone, native: P, transform: shout}\n")
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{path}:8: fields[1].transform: unknown transform 'shout'; known: bool_text, ")


def test_non_invertible_value_map(tmp_path: Path) -> None:
    path = write(tmp_path, "  - canonical: credit_status\n    native: Credit\n"
                           "    values: {ok: OK, review: OK, hold: H}\n")
    assert problems_of(tmp_path) == [
        f"{path}:9: fields[0].values: value map must be one-to-one so that inbound values can be read back"]


def test_unknown_entity(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n",
                 header=HEADER.replace("entity: account", "entity: lead"))
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{path}:3: entity: unknown entity 'lead'; known: account, billing_account")


def test_unknown_reference_entity_and_two_conversions(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: parent_account_id, native: P, reference: company}\n"
                           "  - {canonical: segment, native: T, transform: number, values: {smb: S}}\n")
    assert problems_of(tmp_path) == [
        f"{path}:7: fields[0].reference: unknown entity 'company'",
        f"{path}:8: fields[1]: use at most one of values, transform, reference"]


def test_misspelt_key_and_bad_values(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, nativ: Name}\n  - {canonical: phone, native: P, direction: up}\n",
                 header=HEADER.replace("version: 1", "version: 0"))
    found = problems_of(tmp_path)
    assert f"{path}:4: version: Input should be greater than or equal to 1" in found
    assert f"{path}:7: fields[0].native: Field required" in found
    assert f"{path}:7: fields[0].nativ: Extra inputs are not permitted" in found
    assert any(p.startswith(f"{path}:8: fields[1].direction: Input should be 'both', 'inbound' or 'outbound'")
               for p in found)


def test_native_field_mapped_inbound_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: legal_name, native: Name}\n")
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{path}:") and "fields[1].native: 'Name' is mapped inbound twice" in problem


def test_native_field_mapped_inbound_twice_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: legal_name, native: Name}\n")
    assert problems_of(tmp_path) == [f"{path}:8: fields[1].native: 'Name' is mapped inbound twice"]


def test_same_native_field_may_also_be_written_outbound(tmp_path: Path) -> None:
    write(tmp_path, "  - {canonical: name, native: Name}\n"
                    "  - {canonical: legal_name, native: Name, direction: outbound}\n")
    assert len(load_specs(tmp_path)[0].fields) == 2


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {canonical: name, native: Name}\n  - {canonical: phone, native: [Phone}\n")
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{path}:8: malformed YAML: ")


def test_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    first = write(tmp_path, "  - {canonical: nmae, native: N}\n", name="a.yaml")
    second = write(tmp_path, "  - {canonical: phone, native: P, transform: shout}\n", name="b.yaml")
    write(tmp_path, "  - {canonical: name, native: N}\n", name="c.yaml")
    (tmp_path / "notes.txt").write_text("not a mapping")
    found = problems_of(tmp_path)
    assert [p.split(":")[0:2] for p in found] == [[str(first), "7"], [str(second), "7"]]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: no mapping files (*.yaml)"]


def test_custom_transform_set(tmp_path: Path) -> None:
    write(tmp_path, "  - {canonical: phone, native: P, transform: number}\n")
    with pytest.raises(ConfigError, match="unknown transform 'number'; known: bool_text"):
        load_specs(tmp_path, {"bool_text": builtin_transforms()["bool_text"]})


def test_two_files_for_one_system_and_entity(tmp_path: Path) -> None:
    write(tmp_path, "  - {canonical: name, native: N}\n", name="a.yaml")
    write(tmp_path, "  - {canonical: phone, native: P}\n", name="b.yaml")
    with pytest.raises(ConfigError, match="two mappings for system 'crm' entity 'account'"):
        load_mapping_set(tmp_path)


def test_shipped_specs_are_valid() -> None:
    specs = load_specs(bundled_specs_dir())
    assert {s.label for s in specs} == {
        "hubspot/account@1", "hubspot/contact@1", "salesforce/account@1", "salesforce/contact@1",
        "salesforce/contract@1",
        "stripe/billing_account@1", "stripe/invoice@1", "stripe/subscription@1", "tryton/account@1",
        "tryton/contract@1", "tryton/invoice@1",
        "zendesk/account@1",
        "zendesk/entitlement@1"}
