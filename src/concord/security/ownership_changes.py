"""Ownership rule changes under approval: propose a whole new policy (dry-run over recent traffic), approve by a
second person, activate with a version bump, roll back — the mapping flow of decision 053, for ownership.yaml.

The policy in force lives in `ownership_versions` (the highest version wins; the file is stored as the first
version the first time a change is activated). Every process re-reads it when the highest version changes:
`sync` looks at most once per `interval` seconds, so an activation reaches running workers within about a
second without a restart. Activation changes how future writes are judged; nothing already decided is redone.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ids import new_id
from concord.ownership.policy import OwnershipPolicy, RuleIndex
from concord.security import audit
from concord.security import proposal_store as store
from concord.security.ownership_dryrun import replay
from concord.security.proposal_store import ProposalError, get_proposal, mark_rejected, recent_changes, require_open
from concord.security.tables import ownership_proposals, ownership_versions

SYNC_INTERVAL_S = 1.0


def validate_policy(raw: dict[str, Any], runtime: Runtime) -> OwnershipPolicy:
    """A proposed policy, validated like ownership.yaml (pydantic ValidationError names the field)."""
    return OwnershipPolicy.model_validate(raw, context={"systems": set(runtime.hub.systems) | INTERNAL_SYSTEMS})


def dry_run(conn: Connection, runtime: Runtime, policy: OwnershipPolicy, limit: int) -> dict[str, Any]:
    return replay(runtime.mappings, runtime.rules, RuleIndex(policy), recent_changes(conn, limit))


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {"differing": result["differing"], "replayed": result["replayed"]}


def propose(conn: Connection, runtime: Runtime, policy: OwnershipPolicy, actor: str, replay_last: int = 500) -> str:
    sync(conn, runtime, interval=0.0)
    result = dry_run(conn, runtime, policy, replay_last)
    proposal_id = new_id()
    conn.execute(ownership_proposals.insert().values(
        id=proposal_id, base_version=runtime.ownership.version, policy=policy.model_dump_json(), status="proposed",
        proposed_by=actor, proposed_at=time.time(), dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(tenant="*", actor=actor, action="ownership.proposed", object_type="ownership",
                                   object_id=proposal_id, after=_summary(result)))
    return proposal_id


def get(conn: Connection, proposal_id: str) -> dict[str, Any]:
    return get_proposal(conn, ownership_proposals, "policy", proposal_id, "ownership")


def list_proposals(conn: Connection, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.list_proposals(conn, ownership_proposals, "policy", status, limit)


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


def approve(conn: Connection, runtime: Runtime, proposal_id: str, actor: str, replay_last: int = 500) -> int:
    """Activate a proposal; the approver must not be its proposer. The dry-run is refreshed and stored."""
    proposal = get(conn, proposal_id)
    require_open(proposal)
    if proposal["proposed_by"] == actor:
        raise ProposalError(403, "an ownership change must be approved by someone other than its proposer")
    sync(conn, runtime, interval=0.0)
    policy = validate_policy(proposal["policy"], runtime)
    result = dry_run(conn, runtime, policy, replay_last)
    before = runtime.ownership.version
    version = _activate(conn, runtime, policy, actor, proposal_id)
    p = ownership_proposals.c
    conn.execute(update(ownership_proposals).where(p.status == "active").values(status="superseded"))
    conn.execute(update(ownership_proposals).where(p.id == proposal_id).values(
        status="active", approved_by=actor, approved_at=time.time(), activated_version=version,
        dry_run=orjson.dumps(result).decode()))
    audit.append(conn, audit.Entry(
        tenant="*", actor=actor, action="ownership.activated", object_type="ownership", object_id=proposal_id,
        before={"version": before}, after={"version": version, "proposed_by": proposal["proposed_by"],
                                           **_summary(result)}))
    return version


def reject(conn: Connection, proposal_id: str, actor: str, reason: str | None) -> None:
    require_open(get(conn, proposal_id))
    mark_rejected(conn, ownership_proposals, proposal_id, actor, reason)
    audit.append(conn, audit.Entry(tenant="*", actor=actor, action="ownership.rejected", object_type="ownership",
                                   object_id=proposal_id, after={"reason": reason}))


def rollback(conn: Connection, runtime: Runtime, actor: str) -> int:
    """Put the policy that was in force before the current one back, under a new version."""
    versions = _versions(conn)
    if len(versions) < 2:
        raise ProposalError(409, "the ownership rules have no earlier version to roll back to")
    current, previous = versions[-1], versions[-2]
    version = _activate(conn, runtime, OwnershipPolicy.model_validate_json(previous["policy"]), actor, None)
    if current["proposal_id"] is not None:
        conn.execute(update(ownership_proposals).where(ownership_proposals.c.id == current["proposal_id"])
                     .values(status="rolled_back"))
    audit.append(conn, audit.Entry(
        tenant="*", actor=actor, action="ownership.rolled_back", object_type="ownership", object_id="ownership",
        before={"version": current["version"]}, after={"version": version, "same_as": previous["version"]}))
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
