"""The schema registry: compatibility rules, refusal of incompatible versions, upcasting, the snapshot check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from concord.cli.main import build
from concord.events.catalog import MilestoneV1, RecordChangedV2
from concord.events.compat import incompatibilities
from concord.events.registry import SNAPSHOT_DIR, IncompatibleSchema, SchemaRegistry, check_snapshot
from tests.events.support import changed


class Old(BaseModel):
    name: str
    plan: str | None = None
    tier: int = 0


class AddsOptional(Old):
    region: str | None = None


class DropsRequired(BaseModel):
    plan: str | None = None


class RetypesField(BaseModel):
    name: int


class Loosens(BaseModel):
    name: str | None = None


def test_adding_an_optional_field_is_compatible() -> None:
    assert incompatibilities(Old.model_json_schema(), AddsOptional.model_json_schema()) == []


@pytest.mark.parametrize(("new", "message"), [
    (DropsRequired, "required field 'name' was removed"),
    (RetypesField, "field 'name' changed shape"),
    (Loosens, "required field 'name' became optional"),
])
def test_incompatible_changes_are_named(new: type[BaseModel], message: str) -> None:
    problems = incompatibilities(Old.model_json_schema(), new.model_json_schema())
    assert any(message in p for p in problems), problems


def test_registering_an_incompatible_version_is_refused() -> None:
    registry = SchemaRegistry()
    registry.register("Thing", Old)
    with pytest.raises(IncompatibleSchema, match="Thing v2: required field 'name' was removed"):
        registry.register("Thing", DropsRequired, lambda d: d)
    with pytest.raises(IncompatibleSchema, match="needs an upcaster"):
        registry.register("Thing", AddsOptional)
    assert registry.register("Thing", AddsOptional, lambda d: {**d, "region": None}) == 2


def test_old_events_are_upcast_to_the_newest_version() -> None:
    registry = SchemaRegistry.default()
    event = changed("c1", 0, fields={"b": 1, "a": 2})
    newest = registry.upcast(event)
    assert (newest.schema_version, newest.data["changed_fields"]) == (2, ["a", "b"])
    registry.validate(newest)
    assert registry.upcast(newest) is newest


def test_validation_names_the_field_and_refuses_unknown_fields() -> None:
    registry = SchemaRegistry.default()
    event = changed("c1", 0)
    with pytest.raises(ValueError, match=r"data\.source_system: Field required"):
        registry.validate(event.model_copy(update={"data": {k: v for k, v in event.data.items()
                                                             if k != "source_system"}}))
    with pytest.raises(ValueError, match=r"data\.surprise: unknown field"):
        registry.validate(event.model_copy(update={"data": {**event.data, "surprise": 1}}))
    with pytest.raises(ValueError, match="unknown event type"):
        registry.validate(event.model_copy(update={"type": "CustomerTeleported"}))
    with pytest.raises(ValueError, match=r"unknown schema version \(newest is v2\)"):
        registry.validate(event.model_copy(update={"schema_version": 3}))


def test_the_committed_snapshot_matches_the_registry() -> None:
    """What CI runs: `concord schemas check` against src/concord/events/schemas."""
    assert check_snapshot(SchemaRegistry.default(), SNAPSHOT_DIR).ok
    result = CliRunner().invoke(build(), ["schemas", "check"])
    assert result.exit_code == 0, result.output


def _tamper(tmp_path: Path, event_type: str, version: str, field: str, schema: dict[str, object]) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(SNAPSHOT_DIR, folder)
    path = folder / f"{event_type}.json"
    doc = json.loads(path.read_text())
    doc["versions"][version]["properties"][field] = schema
    doc["versions"][version].setdefault("required", []).append(field)
    path.write_text(json.dumps(doc))
    return folder


def test_an_incompatible_change_fails_the_check(tmp_path: Path) -> None:
    # the snapshot says published v1 required `reason`; the code no longer has it
    folder = _tamper(tmp_path, "CreditHoldApplied", "1", "reason", {"type": "string"})
    report = check_snapshot(SchemaRegistry.default(), folder)
    assert report.incompatible == ["CreditHoldApplied v1: required field 'reason' was removed"]
    result = CliRunner().invoke(build(), ["schemas", "check", "--snapshot", str(folder)])
    assert result.exit_code == 1
    assert "required field 'reason' was removed" in result.output
    refused = CliRunner().invoke(build(), ["schemas", "snapshot", "--snapshot", str(folder)])
    assert refused.exit_code == 1 and "refusing" in refused.output


def test_a_new_version_missing_from_the_snapshot_is_reported_and_snapshot_writes_it(tmp_path: Path) -> None:
    class MilestoneV2(MilestoneV1):
        reason: str | None = None

    registry = SchemaRegistry.default()
    registry.register("CreditHoldApplied", MilestoneV2, lambda d: {**d, "reason": None})
    folder = tmp_path / "schemas"
    shutil.copytree(SNAPSHOT_DIR, folder)
    report = check_snapshot(registry, folder)
    assert report.incompatible == [] and report.stale == ["CreditHoldApplied v2: not in the snapshot"]


def test_a_type_change_in_a_new_version_is_refused() -> None:
    class Broken(RecordChangedV2):
        changes: list[str] = Field(min_length=1)  # type: ignore[assignment]

    registry = SchemaRegistry.default()
    with pytest.raises(IncompatibleSchema, match="CustomerUpdated v3: field 'changes' changed shape"):
        registry.register("CustomerUpdated", Broken, lambda d: d)
