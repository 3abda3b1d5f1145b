"""Mapping change approval: propose (with a dry-run over recent traffic), approve by a second person, activate
with a version bump, roll back. Activation changes how future changes are mapped; it never resyncs anything.

Every activated spec is kept in `mapping_versions`; the configured (file) spec is stored as the first version
the first time a mapping is changed, so a rollback always has something to return to. A rollback activates the
previous spec again under a new, higher version, so version labels in change_log only ever grow. Other running
processes put a new version in force within about a second (`mapping_sync.sync`).

Each proposal and version belongs to a tenant: "*" changes the hub-wide spec, a tenant name changes that
tenant's override only (decision 071). A tenant's first version row records what it ran before: its file
override, or the hub-wide spec (a row whose spec names no tenant), which means "follows the hub-wide spec" — a
rollback to it removes the override rather than freezing a copy of the hub-wide spec.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.mappings.mapper import Mapper
from concord.mappings.registry import HUB_WIDE, MappingSet, label_fits
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import builtin_transforms
from concord.security import audit, mapping_sync
from concord.security import proposal_store as store
from concord.security.dryrun import replay
from concord.security.proposal_store import ProposalError, get_proposal, mark_rejected, recent_changes, require_open
from concord.security.tables import mapping_proposals, mapping_versions


def validate_spec(raw: dict[str, Any]) -> MappingSpec:
    """A proposed spec, validated like a configured one (pydantic ValidationError names the field)."""
    return MappingSpec.model_validate(raw, context={"transforms": builtin_transforms()})


def _mapper(spec: MappingSpec) -> Mapper:
    return Mapper(spec, builtin_transforms())


def _spec_tenant(tenant: str) -> str | None:
    return None if tenant == HUB_WIDE else tenant


def for_tenant(runtime: Runtime, spec: MappingSpec, tenant: str) -> MappingSpec:
    """`spec` as a change of `tenant`'s mapping ("*": hub-wide): the tenant must exist, the spec must not name
    another one, and there must be a hub-wide spec of that (system, entity) to change or override."""
    if tenant != HUB_WIDE and tenant not in runtime.hub.tenants:
        raise ProposalError(422, f"unknown tenant {tenant!r}")
    if spec.tenant is not None and spec.tenant != _spec_tenant(tenant):
        raise ProposalError(422, f"spec.tenant names {spec.tenant!r} but the proposal is for tenant {tenant!r}")
    if runtime.mappings.get(spec.system, spec.entity) is None:
        raise ProposalError(422, f"no mapping for system {spec.system!r} entity {spec.entity!r} to change")
    if tenant != HUB_WIDE and not label_fits(spec.system, spec.entity, tenant):
        raise ProposalError(422, f"tenant name {tenant!r} is too long for a mapping version label")
    return spec.model_copy(update={"tenant": _spec_tenant(tenant)})


def dry_run(conn: Connection, mappings: MappingSet, spec: MappingSpec, limit: int) -> dict[str, Any]:
    """Replay recent traffic through the running and the proposed spec: a tenant's override replays only that
    tenant's changes; a hub-wide change skips tenants with an override of their own (it does not reach them)."""
    current = mappings.get(spec.system, spec.entity, spec.tenant)
    if current is None:
        raise ProposalError(422, f"no mapping for system {spec.system!r} entity {spec.entity!r} to change")
    rows = recent_changes(conn, limit, spec.entity, tenant=spec.tenant)
    if spec.tenant is None:
        rows = [r for r in rows if mappings.override(r["tenant"], spec.system, spec.entity) is None]
    return replay(mappings, current, _mapper(spec), rows)


def propose(conn: Connection, runtime: Runtime, spec: MappingSpec, actor: str, replay_last: int = 500,
            tenant: str = HUB_WIDE) -> str:
    mapping_sync.sync(conn, runtime, interval=0.0)  # dry-run against what runs now, wherever it was activated
    spec = for_tenant(runtime, spec, tenant)
    current = runtime.mappings.get(spec.system, spec.entity, spec.tenant)
    assert current is not None  # for_tenant checked the hub-wide spec exists
    result = dry_run(conn, runtime.mappings, spec, replay_last)
    proposal_id = new_id()
    conn.execute(mapping_proposals.insert().values(
        id=proposal_id, tenant=tenant, system=spec.system, entity=spec.entity, base_version=current.spec.version,
        spec=spec.model_dump_json(), status="proposed", proposed_by=actor, proposed_at=time.time(),
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(tenant=tenant, actor=actor, action="mapping.proposed", object_type="mapping",
                                   object_id=proposal_id, system=spec.system,
                                   after={"mapping": spec.label.split("@")[0], "differing": result["differing"],
                                          "replayed": result["replayed"]}))
    return proposal_id


def get(conn: Connection, proposal_id: str, viewer: str = HUB_WIDE) -> dict[str, Any]:
    """A proposal as `viewer` (a key's tenant) may see it: another tenant's proposal does not exist for it."""
    proposal = get_proposal(conn, mapping_proposals, "spec", proposal_id, "mapping")
    if viewer != HUB_WIDE and proposal["tenant"] != viewer:
        raise ProposalError(404, f"no mapping proposal {proposal_id}")
    return proposal


def list_proposals(conn: Connection, status: str | None = None, limit: int = 100,
                   tenant: str | None = None) -> list[dict[str, Any]]:
    """Newest first; `tenant` keeps only that tenant's ("*": only hub-wide ones), None keeps all."""
    return store.list_proposals(conn, mapping_proposals, "spec", status, limit, tenant=tenant)


def _versions(conn: Connection, tenant: str, system: str, entity: str) -> list[dict[str, Any]]:
    v = mapping_versions.c
    rows = conn.execute(select(mapping_versions).where(v.tenant == tenant, v.system == system, v.entity == entity)
                        .order_by(v.version))
    return [dict(r._mapping) for r in rows]


def _activate(conn: Connection, runtime: Runtime, tenant: str, spec: MappingSpec, actor: str,
              proposal_id: str | None) -> int:
    """Store `spec` as `tenant`'s next version and swap it into the running mapping set."""
    versions = _versions(conn, tenant, spec.system, spec.entity)
    current = runtime.mappings.get(spec.system, spec.entity, _spec_tenant(tenant))
    now = time.time()
    if not versions and current is not None:  # keep what ran before, so rollback can return to it
        conn.execute(mapping_versions.insert().values(
            tenant=tenant, system=spec.system, entity=spec.entity, version=current.spec.version,
            spec=current.spec.model_dump_json(), proposal_id=None, activated_by="config", activated_at=now))
        versions = _versions(conn, tenant, spec.system, spec.entity)
    base = max([v["version"] for v in versions] + [current.spec.version if current else 0])
    activated = spec.model_copy(update={"version": base + 1})
    conn.execute(mapping_versions.insert().values(
        tenant=tenant, system=spec.system, entity=spec.entity, version=activated.version,
        spec=activated.model_dump_json(), proposal_id=proposal_id, activated_by=actor, activated_at=now))
    mapping_sync.activated(runtime, tenant, activated)  # other processes follow through mapping_sync.sync
    return activated.version


def approve(conn: Connection, runtime: Runtime, proposal_id: str, actor: str, replay_last: int = 500,
            viewer: str = HUB_WIDE) -> int:
    """Activate a proposal; the approver must not be its proposer. The dry-run is refreshed and stored."""
    proposal = get(conn, proposal_id, viewer)
    require_open(proposal)
    if proposal["proposed_by"] == actor:
        raise ProposalError(403, "a mapping change must be approved by someone other than its proposer")
    tenant = proposal["tenant"]
    mapping_sync.sync(conn, runtime, interval=0.0)
    spec = validate_spec(proposal["spec"]).model_copy(update={"tenant": _spec_tenant(tenant)})
    result = dry_run(conn, runtime.mappings, spec, replay_last)
    before = runtime.mappings.get(spec.system, spec.entity, spec.tenant)
    version = _activate(conn, runtime, tenant, spec, actor, proposal_id)
    p = mapping_proposals.c
    conn.execute(update(mapping_proposals).where(p.tenant == tenant, p.system == spec.system, p.entity == spec.entity,
                                                 p.status == "active").values(status="superseded"))
    conn.execute(update(mapping_proposals).where(p.id == proposal_id).values(
        status="active", approved_by=actor, approved_at=time.time(), activated_version=version,
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(
        tenant=tenant, actor=actor, action="mapping.activated", object_type="mapping", object_id=proposal_id,
        system=spec.system, before={"version": before.spec.label if before else None},
        after={"version": spec.model_copy(update={"version": version}).label, "proposed_by": proposal["proposed_by"],
               "differing": result["differing"], "replayed": result["replayed"]}))
    return version


def reject(conn: Connection, proposal_id: str, actor: str, reason: str | None, viewer: str = HUB_WIDE) -> None:
    proposal = get(conn, proposal_id, viewer)
    require_open(proposal)
    mark_rejected(conn, mapping_proposals, proposal_id, actor, reason)
    audit.append(conn, audit.Entry(tenant=proposal["tenant"], actor=actor, action="mapping.rejected",
                                   object_type="mapping", object_id=proposal_id, system=proposal["system"],
                                   after={"reason": reason}))


def rollback(conn: Connection, runtime: Runtime, system: str, entity: str, actor: str,
             tenant: str = HUB_WIDE) -> int:
    """Activate the spec that was active before the current one (of `tenant`'s mapping), under a new version."""
    mapping_sync.sync(conn, runtime, interval=0.0)
    versions = _versions(conn, tenant, system, entity)
    label = f"{system}/{entity}" if tenant == HUB_WIDE else f"{system}/{entity}[{tenant}]"
    if len(versions) < 2:
        raise ProposalError(409, f"mapping {label} has no earlier version to roll back to")
    current, previous = versions[-1], versions[-2]
    version = _activate(conn, runtime, tenant, mapping_sync.load_spec(previous["spec"]), actor, None)
    if current["proposal_id"] is not None:
        conn.execute(update(mapping_proposals).where(mapping_proposals.c.id == current["proposal_id"])
                     .values(status="rolled_back"))
    audit.append(conn, audit.Entry(
        tenant=tenant, actor=actor, action="mapping.rolled_back", object_type="mapping",
        object_id=label, system=system, before={"version": current["version"]},
        after={"version": version, "same_as": previous["version"]}))
    return version


def apply_active(conn: Connection, runtime: Runtime) -> None:
    """At start-up: the newest activated version of each changed mapping (hub-wide or a tenant's) replaces the
    configured one; afterwards `mapping_sync.sync` keeps the process current."""
    mapping_sync.sync(conn, runtime, interval=0.0)
