"""Mapping change approval: propose (with a dry-run over recent traffic), approve by a second person, activate
with a version bump, roll back. Activation changes how future changes are mapped; it never resyncs anything.

Every activated spec is kept in `mapping_versions`; the configured (file) spec is stored as the first version
the first time a mapping is changed, so a rollback always has something to return to. A rollback activates the
previous spec again under a new, higher version, so version labels in change_log only ever grow.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.mappings.mapper import Mapper
from concord.mappings.registry import MappingSet
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import builtin_transforms
from concord.security import audit
from concord.security import proposal_store as store
from concord.security.dryrun import replay
from concord.security.proposal_store import ProposalError, get_proposal, mark_rejected, recent_changes, require_open
from concord.security.tables import mapping_proposals, mapping_versions


def validate_spec(raw: dict[str, Any]) -> MappingSpec:
    """A proposed spec, validated like a configured one (pydantic ValidationError names the field)."""
    return MappingSpec.model_validate(raw, context={"transforms": builtin_transforms()})


def _mapper(spec: MappingSpec) -> Mapper:
    return Mapper(spec, builtin_transforms())


def dry_run(conn: Connection, mappings: MappingSet, spec: MappingSpec, limit: int) -> dict[str, Any]:
    current = mappings.get(spec.system, spec.entity)
    if current is None:
        raise ProposalError(422, f"no mapping for system {spec.system!r} entity {spec.entity!r} to change")
    return replay(mappings, current, _mapper(spec), recent_changes(conn, limit, spec.entity))


def propose(conn: Connection, runtime: Runtime, spec: MappingSpec, actor: str, replay_last: int = 500) -> str:
    current = runtime.mappings.get(spec.system, spec.entity)
    if current is None:
        raise ProposalError(422, f"no mapping for system {spec.system!r} entity {spec.entity!r} to change")
    result = dry_run(conn, runtime.mappings, spec, replay_last)
    proposal_id = new_id()
    conn.execute(mapping_proposals.insert().values(
        id=proposal_id, system=spec.system, entity=spec.entity, base_version=current.spec.version,
        spec=spec.model_dump_json(), status="proposed", proposed_by=actor, proposed_at=time.time(),
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(tenant="*", actor=actor, action="mapping.proposed", object_type="mapping",
                                   object_id=proposal_id, system=spec.system,
                                   after={"mapping": f"{spec.system}/{spec.entity}", "differing": result["differing"],
                                          "replayed": result["replayed"]}))
    return proposal_id


def get(conn: Connection, proposal_id: str) -> dict[str, Any]:
    return get_proposal(conn, mapping_proposals, "spec", proposal_id, "mapping")


def list_proposals(conn: Connection, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.list_proposals(conn, mapping_proposals, "spec", status, limit)


def _versions(conn: Connection, system: str, entity: str) -> list[dict[str, Any]]:
    v = mapping_versions.c
    rows = conn.execute(select(mapping_versions).where(v.system == system, v.entity == entity).order_by(v.version))
    return [dict(r._mapping) for r in rows]


def _activate(conn: Connection, runtime: Runtime, spec: MappingSpec, actor: str, proposal_id: str | None) -> int:
    """Store `spec` as the next version and swap it into the running mapping set."""
    versions = _versions(conn, spec.system, spec.entity)
    current = runtime.mappings.get(spec.system, spec.entity)
    now = time.time()
    if not versions and current is not None:  # keep the configured spec, so rollback can return to it
        conn.execute(mapping_versions.insert().values(
            system=spec.system, entity=spec.entity, version=current.spec.version, spec=current.spec.model_dump_json(),
            proposal_id=None, activated_by="config", activated_at=now))
        versions = _versions(conn, spec.system, spec.entity)
    base = max([v["version"] for v in versions] + [current.spec.version if current else 0])
    activated = spec.model_copy(update={"version": base + 1})
    conn.execute(mapping_versions.insert().values(
        system=spec.system, entity=spec.entity, version=activated.version, spec=activated.model_dump_json(),
        proposal_id=proposal_id, activated_by=actor, activated_at=now))
    runtime.mappings.mappers[(spec.system, spec.entity)] = _mapper(activated)
    return activated.version


def approve(conn: Connection, runtime: Runtime, proposal_id: str, actor: str, replay_last: int = 500) -> int:
    """Activate a proposal; the approver must not be its proposer. The dry-run is refreshed and stored."""
    proposal = get(conn, proposal_id)
    require_open(proposal)
    if proposal["proposed_by"] == actor:
        raise ProposalError(403, "a mapping change must be approved by someone other than its proposer")
    spec = validate_spec(proposal["spec"])
    result = dry_run(conn, runtime.mappings, spec, replay_last)
    before = runtime.mappings.get(spec.system, spec.entity)
    version = _activate(conn, runtime, spec, actor, proposal_id)
    p = mapping_proposals.c
    conn.execute(update(mapping_proposals).where(p.system == spec.system, p.entity == spec.entity,
                                                 p.status == "active").values(status="superseded"))
    conn.execute(update(mapping_proposals).where(p.id == proposal_id).values(
        status="active", approved_by=actor, approved_at=time.time(), activated_version=version,
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(
        tenant="*", actor=actor, action="mapping.activated", object_type="mapping", object_id=proposal_id,
        system=spec.system, before={"version": before.spec.label if before else None},
        after={"version": f"{spec.system}/{spec.entity}@{version}", "proposed_by": proposal["proposed_by"],
               "differing": result["differing"], "replayed": result["replayed"]}))
    return version


def reject(conn: Connection, proposal_id: str, actor: str, reason: str | None) -> None:
    proposal = get(conn, proposal_id)
    require_open(proposal)
    mark_rejected(conn, mapping_proposals, proposal_id, actor, reason)
    audit.append(conn, audit.Entry(tenant="*", actor=actor, action="mapping.rejected", object_type="mapping",
                                   object_id=proposal_id, system=proposal["system"], after={"reason": reason}))


def rollback(conn: Connection, runtime: Runtime, system: str, entity: str, actor: str) -> int:
    """Activate the spec that was active before the current one, under a new version."""
    versions = _versions(conn, system, entity)
    if len(versions) < 2:
        raise ProposalError(409, f"mapping {system}/{entity} has no earlier version to roll back to")
    current, previous = versions[-1], versions[-2]
    spec = MappingSpec.model_validate_json(previous["spec"], context={"transforms": builtin_transforms()})
    version = _activate(conn, runtime, spec, actor, None)
    if current["proposal_id"] is not None:
        conn.execute(update(mapping_proposals).where(mapping_proposals.c.id == current["proposal_id"])
                     .values(status="rolled_back"))
    audit.append(conn, audit.Entry(
        tenant="*", actor=actor, action="mapping.rolled_back", object_type="mapping",
        object_id=f"{system}/{entity}", system=system, before={"version": current["version"]},
        after={"version": version, "same_as": previous["version"]}))
    return version


def apply_active(conn: Connection, runtime: Runtime) -> None:
    """At start-up: the newest activated version of each changed mapping replaces the configured one."""
    v = mapping_versions.c
    rows = conn.execute(select(mapping_versions).order_by(v.system, v.entity, v.version))
    latest = {(r.system, r.entity): r.spec for r in rows}
    for (system, entity), raw in latest.items():
        spec = MappingSpec.model_validate_json(raw, context={"transforms": builtin_transforms()})
        runtime.mappings.mappers[(system, entity)] = _mapper(spec)
