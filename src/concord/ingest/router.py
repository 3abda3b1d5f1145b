"""The router: which systems must hear about an applied change, and in which words (pure).

A target gets the changed fields its mapping sends outbound, except fields the target itself owns (the owner is
the source of truth; pushing its own field back to it could only echo or clobber) — a create seeds them, though.
Bound targets get an update; unbound ones get a create only where the tenant's `auto_create` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.hubconfig import Runtime
from concord.mappings.mapper import Mapper, RefResolver


class OutboundCommand(NamedTuple):
    """Immutable, as the frozen dataclass it was, and built at a fraction of its cost: a frozen dataclass sets
    each of its nine fields through object.__setattr__, once per routed command (decision 074)."""

    system: str
    op: str  # create | update
    object: str
    entity: str
    canonical_id: str
    external_id: str | None
    fields: dict[str, Any]  # native payload
    canonical_fields: tuple[str, ...]
    mapping_version: str

    def idempotency_key(self, change_id: str) -> str:
        # A create is keyed by the record itself, so every create queued before the first one lands makes one
        # record; connectors without an idempotency header store this key in their external-id field, which is
        # how each system comes to carry the Concord id. Updates are keyed by the change that caused them.
        return self.canonical_id if self.op == "create" else f"{change_id}:{self.system}"

    def to_payload(self, idempotency_key: str) -> dict[str, Any]:
        return {"op": self.op, "system": self.system, "object": self.object, "entity": self.entity,
                "canonical_id": self.canonical_id, "external_id": self.external_id, "fields": self.fields,
                "canonical_fields": list(self.canonical_fields), "mapping_version": self.mapping_version,
                "idempotency_key": idempotency_key}


def _fields_for(runtime: Runtime, tenant: str, mapper: Mapper, changed: dict[str, JsonValue],
                create: bool) -> dict[str, JsonValue]:
    """Mapped outbound fields; on update minus those the target owns. A create seeds them too: the owner has
    no record yet, and from then on its own word rules."""
    target, entity = mapper.spec.system, mapper.spec.entity
    return {path: value for path, value in changed.items() if path in mapper.outbound_paths
            and (create or runtime.rules.rule_for(tenant, entity, path).owner != target)}


def route(runtime: Runtime, record: GoldenRecord, changed: dict[str, JsonValue], source: str,
          bound: dict[str, str], resolve: Callable[[str], RefResolver]) -> list[OutboundCommand]:
    """Commands for every target system; `bound` maps system → external id of this record there."""
    if not changed:
        return []
    tenant = runtime.hub.tenants[record.tenant]
    commands: list[OutboundCommand] = []
    for mapper in runtime.mappings.targets(record.entity, record.tenant):
        system = mapper.spec.system
        if system == source or system not in tenant.systems:
            continue
        external_id = bound.get(system)
        create = external_id is None and system not in record.creating
        if external_id is None and record.entity not in tenant.auto_create.get(system, ()):
            continue
        values = record.values() if create else changed
        selected = _fields_for(runtime, record.tenant, mapper, values, create)
        if not selected:
            continue
        native = mapper.to_native(selected, create=create, resolve=resolve(system))
        if not native:
            continue
        commands.append(OutboundCommand(
            system=system, op="create" if create else "update", object=mapper.spec.object, entity=record.entity,
            canonical_id=record.id, external_id=external_id, fields=native, canonical_fields=tuple(sorted(selected)),
            mapping_version=mapper.label))
    return commands
