"""Read models shared by the API and the CLI: a golden record with per-field provenance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from concord.canonical.fields import to_entity
from concord.canonical.golden import GoldenRecord, us_to_ts


class FieldProvenancePublic(BaseModel):
    value: Any
    system: str
    source_ts: datetime
    change_id: str
    mapping_version: str | None
    approved_by: str | None
    authoritative: bool


class BindingPublic(BaseModel):
    system: str
    entity: str
    external_id: str
    last_sync_at: datetime


class GoldenRecordPublic(BaseModel):
    id: str
    tenant: str
    entity: str
    version: int
    record: dict[str, Any]
    fields: dict[str, FieldProvenancePublic]
    bindings: list[BindingPublic]


def golden_view(record: GoldenRecord, bindings: list[dict[str, Any]]) -> GoldenRecordPublic:
    fields = {
        path: FieldProvenancePublic(
            value=fv.value, system=fv.provenance.system, source_ts=us_to_ts(fv.provenance.source_ts_us),
            change_id=fv.provenance.change_id, mapping_version=fv.provenance.mapping_version,
            approved_by=fv.provenance.approved_by, authoritative=fv.authoritative)
        for path, fv in sorted(record.fields.items())}
    typed = to_entity(record.entity, record.values()).model_dump(mode="json", exclude_none=True)
    return GoldenRecordPublic(
        id=record.id, tenant=record.tenant, entity=record.entity, version=record.version, record=typed,
        fields=fields,
        bindings=[BindingPublic(system=b["system"], entity=b["entity"], external_id=b["external_id"],
                                last_sync_at=_last_sync(record, b)) for b in bindings])


def _last_sync(record: GoldenRecord, binding: dict[str, Any]) -> datetime:
    seen = max(binding["last_sync_at"], record.synced.get(binding["system"], 0.0))
    return datetime.fromtimestamp(seen, tz=UTC)
