"""Ownership rule changes under approval: propose a whole new policy (dry-run over recent traffic), approve by a
second person, activate with a version bump, roll back — the mapping flow of decision 053, for ownership.yaml.

The policy in force lives in `ownership_versions` (the highest version wins; the file is stored as the first
version the first time a change is activated). Every process re-reads it when the highest version changes:
`sync` looks at most once per `interval` seconds, so an activation reaches running workers within about a
second without a restart. Activation changes how future writes are judged; nothing already decided is redone.

A proposal is hub-wide (`tenant` '*': a whole new policy) or belongs to one tenant (decision 073): then it holds
only that tenant's override section, its dry-run replays only that tenant's changes, and activating it replaces
that section in the policy in force at approval time — every other rule stays as it is then. Callers pass
`visible_to` (the caller's tenant, '*' for a hub operator): another tenant's proposal is "not found".
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ids import new_id
from concord.ownership.policy import (
    EntityRules,
    OwnershipPolicy,
    RuleIndex,
    TenantOverrides,
    overrides_of,
    with_overrides,
)
from concord.security import audit
from concord.security import proposal_store as store
from concord.security.ownership_dryrun import replay
from concord.security.proposal_store import ProposalError, get_proposal, mark_rejected, recent_changes, require_open
from concord.security.scopes import ALL_TENANTS
from concord.security.tables import ownership_proposals, ownership_versions

SYNC_INTERVAL_S = 1.0


def validate_policy(raw: dict[str, Any], runtime: Runtime) -> OwnershipPolicy:
    """A proposed policy, validated like ownership.yaml (pydantic ValidationError names the field)."""
    return OwnershipPolicy.model_validate(raw, context={"systems": set(runtime.hub.systems) | INTERNAL_SYSTEMS})


def validate_overrides(raw: Any, runtime: Runtime) -> EntityRules:
    """A proposed tenant override section (entity → pattern → rule), validated like that part of a policy."""
    return TenantOverrides.model_validate(raw, context={"systems": set(runtime.hub.systems) | INTERNAL_SYSTEMS}).root


def _only(tenant: str) -> str | None:
    return None if tenant == ALL_TENANTS else tenant


def dry_run(conn: Connection, runtime: Runtime, policy: OwnershipPolicy, limit: int,
            tenant: str | None = None) -> dict[str, Any]:
    """Replay the newest `limit` changes (of `tenant` only, when given) under the rules in force and `policy`."""
    return replay(runtime.mappings, runtime.rules, RuleIndex(policy), recent_changes(conn, limit, tenant=tenant))


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {"differing": result["differing"], "replayed": result["replayed"]}


def _store(conn: Connection, runtime: Runtime, tenant: str, payload: str, policy: OwnershipPolicy, actor: str,
           replay_last: int) -> str:
    result = dry_run(conn, runtime, policy, replay_last, _only(tenant))
    proposal_id = new_id()
    conn.execute(ownership_proposals.insert().values(
        id=proposal_id, tenant=tenant, base_version=runtime.ownership.version, policy=payload, status="proposed",
        proposed_by=actor, proposed_at=time.time(), dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(tenant=tenant, actor=actor, action="ownership.proposed", object_type="ownership",
                                   object_id=proposal_id, after=_summary(result)))
    return proposal_id


def propose(conn: Connection, runtime: Runtime, policy: OwnershipPolicy, actor: str, replay_last: int = 500) -> str:
    """A hub-wide proposal: the whole policy (the caller must hold an all-tenant key)."""
    sync(conn, runtime, interval=0.0)
    return _store(conn, runtime, ALL_TENANTS, policy.model_dump_json(), policy, actor, replay_last)


def propose_overrides(conn: Connection, runtime: Runtime, tenant: str, overrides: EntityRules, actor: str,
                      replay_last: int = 500) -> str:
    """A proposal of `tenant`'s override section only ({} drops the tenant's overrides)."""
    sync(conn, runtime, interval=0.0)
    merged = with_overrides(runtime.ownership, tenant, overrides)
    return _store(conn, runtime, tenant, TenantOverrides(overrides).model_dump_json(), merged, actor, replay_last)


def _shaped(proposal: dict[str, Any]) -> dict[str, Any]:
    """A tenant proposal's payload is its override section: `overrides`, with `policy` None (and vice versa)."""
    hub_wide = proposal["tenant"] == ALL_TENANTS
    payload = proposal.pop("policy")
    return {**proposal, "policy": payload if hub_wide else None, "overrides": None if hub_wide else payload}


def get(conn: Connection, proposal_id: str, visible_to: str = ALL_TENANTS) -> dict[str, Any]:
    """One proposal; for a caller of tenant T, any proposal not of T is answered exactly like a missing one."""
    proposal = get_proposal(conn, ownership_proposals, "policy", proposal_id, "ownership")
    if visible_to not in (ALL_TENANTS, proposal["tenant"]):
        raise ProposalError(404, f"no ownership proposal {proposal_id}")
    return _shaped(proposal)


def list_proposals(conn: Connection, status: str | None = None, limit: int = 100,
                   tenant: str | None = None) -> list[dict[str, Any]]:
    """Newest first; `tenant` keeps one tenant's proposals ('*': the hub-wide ones only)."""
    found = store.list_proposals(conn, ownership_proposals, "policy", status, limit, tenant=tenant)
    return [_shaped(p) for p in found]


def _versions(conn: Connection) -> list[dict[str, Any]]:
    v = ownership_versions.c
    return [dict(r._mapping) for r in conn.execute(select(ownership_versions).order_by(v.version))]


def _activate(conn: Connection, runtime: Runtime, policy: OwnershipPolicy, actor: str,
              proposal_id: str | None) -> int:
    """Store `policy` as the next version and put it in force in this process (others follow via `sync`)."""
    versions = _versions(conn)
    now = time.time()
    if not versions:  # keep the configured policy, so a rollback can return to it
        base = runtime.live.configured
        conn.execute(ownership_versions.insert().values(version=base.version, policy=base.model_dump_json(),
                                                        proposal_id=None, activated_by="config", activated_at=now))
        versions = _versions(conn)
    activated = policy.model_copy(update={"version": max(v["version"] for v in versions) + 1})
    conn.execute(ownership_versions.insert().values(version=activated.version, policy=activated.model_dump_json(),
                                                    proposal_id=proposal_id, activated_by=actor, activated_at=now))
    runtime.live.swap(activated, activated.version)
    return activated.version


def _proposed_policy(runtime: Runtime, proposal: dict[str, Any]) -> OwnershipPolicy:
    """What activating `proposal` puts in force: a hub-wide proposal's policy, or the rules in force now with
    the tenant's section replaced (so a tenant's change never undoes what was activated since it was made)."""
    if proposal["tenant"] == ALL_TENANTS:
        return validate_policy(proposal["policy"], runtime)
    overrides = validate_overrides(proposal["overrides"], runtime)
    return with_overrides(runtime.ownership, proposal["tenant"], overrides)


def _supersede(conn: Connection, tenant: str) -> None:
    """A hub-wide activation replaces every rule; a tenant's replaces only that tenant's earlier activation."""
    p = ownership_proposals.c
    query = update(ownership_proposals).where(p.status == "active")
    if tenant != ALL_TENANTS:
        query = query.where(p.tenant == tenant)
    conn.execute(query.values(status="superseded"))


def approve(conn: Connection, runtime: Runtime, proposal_id: str, actor: str, replay_last: int = 500,
            visible_to: str = ALL_TENANTS) -> int:
    """Activate a proposal; the approver must not be its proposer. The dry-run is refreshed and stored."""
    proposal = get(conn, proposal_id, visible_to)
    require_open(proposal)
    if proposal["proposed_by"] == actor:
        raise ProposalError(403, "an ownership change must be approved by someone other than its proposer")
    sync(conn, runtime, interval=0.0)
    tenant = proposal["tenant"]
    policy = _proposed_policy(runtime, proposal)
    result = dry_run(conn, runtime, policy, replay_last, _only(tenant))
    before = runtime.ownership.version
    version = _activate(conn, runtime, policy, actor, proposal_id)
    _supersede(conn, tenant)
    conn.execute(update(ownership_proposals).where(ownership_proposals.c.id == proposal_id).values(
        status="active", approved_by=actor, approved_at=time.time(), activated_version=version,
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(
        tenant=tenant, actor=actor, action="ownership.activated", object_type="ownership", object_id=proposal_id,
        before={"version": before}, after={"version": version, "proposed_by": proposal["proposed_by"],
                                           **_summary(result)}))
    return version


def reject(conn: Connection, proposal_id: str, actor: str, reason: str | None,
           visible_to: str = ALL_TENANTS) -> None:
    proposal = get(conn, proposal_id, visible_to)
    require_open(proposal)
    mark_rejected(conn, ownership_proposals, proposal_id, actor, reason)
    audit.append(conn, audit.Entry(tenant=proposal["tenant"], actor=actor, action="ownership.rejected",
                                   object_type="ownership", object_id=proposal_id, after={"reason": reason}))


def rollback(conn: Connection, runtime: Runtime, actor: str, tenant: str | None = None) -> int:
    """Put the policy that was in force before the current one back, under a new version; with `tenant`, only
    that tenant's override section goes back to what it was before its latest change."""
    if tenant is not None and tenant != ALL_TENANTS:
        return _rollback_tenant(conn, runtime, actor, tenant)
    versions = _versions(conn)
    if len(versions) < 2:
        raise ProposalError(409, "the ownership rules have no earlier version to roll back to")
    current, previous = versions[-1], versions[-2]
    version = _activate(conn, runtime, OwnershipPolicy.model_validate_json(previous["policy"]), actor, None)
    if current["proposal_id"] is not None:
        conn.execute(update(ownership_proposals).where(ownership_proposals.c.id == current["proposal_id"])
                     .values(status="rolled_back"))
    audit.append(conn, audit.Entry(
        tenant=ALL_TENANTS, actor=actor, action="ownership.rolled_back", object_type="ownership",
        object_id="ownership", before={"version": current["version"]},
        after={"version": version, "same_as": previous["version"]}))
    return version


def _rollback_tenant(conn: Connection, runtime: Runtime, actor: str, tenant: str) -> int:
    sync(conn, runtime, interval=0.0)
    versions = _versions(conn)
    sections = [overrides_of(OwnershipPolicy.model_validate_json(v["policy"]), tenant) for v in versions]
    for changed in range(len(versions) - 1, 0, -1):  # the newest version that changed this tenant's section
        if sections[changed - 1] != sections[changed]:
            break
    else:
        raise ProposalError(409, f"tenant {tenant!r}'s ownership overrides have no earlier version to roll back to")
    restored = with_overrides(runtime.ownership, tenant, sections[changed - 1])
    version = _activate(conn, runtime, restored, actor, None)
    p = ownership_proposals.c
    if versions[changed]["proposal_id"] is not None:
        conn.execute(update(ownership_proposals).where(
            p.id == versions[changed]["proposal_id"], p.tenant == tenant, p.status == "active")
            .values(status="rolled_back"))
    audit.append(conn, audit.Entry(
        tenant=tenant, actor=actor, action="ownership.rolled_back", object_type="ownership",
        object_id=f"ownership/{tenant}", before={"version": versions[-1]["version"]},
        after={"version": version, "overrides_as_of": versions[changed - 1]["version"]}))
    return version


def sync(conn: Connection, runtime: Runtime, interval: float = SYNC_INTERVAL_S) -> None:
    """Put the stored policy in force when its version differs from the one running; a cheap look (one max()
    over a tiny table) at most once per `interval`, so callers may call it on every batch."""
    live = runtime.live
    now = time.monotonic()
    if now - live.checked_at < interval:
        return
    with live.lock:
        newest = conn.execute(select(func.max(ownership_versions.c.version))).scalar()
        live.checked_at = now
        if newest == live.active_version:
            return
        if newest is None:
            live.swap(live.configured, None)
            return
        raw = conn.execute(select(ownership_versions.c.policy).where(ownership_versions.c.version == newest)).scalar()
        live.swap(OwnershipPolicy.model_validate_json(str(raw)), newest)
