"""Activated mapping versions reach every running process (#8), the way ownership versions do.

An approval or rollback (`security.proposals`) stores the spec as a new row of `mapping_versions` and swaps the
mapper in the process that made it. Every other process — the API server's ingest, `concord worker`, the workflow
worker — calls `sync` on its hot paths: at most once per `interval` it looks at the row count and the highest
row id (a rollback is a new row too, so every activation changes both; the count also catches a row whose id
was drawn before another's but committed after it). Only when that fingerprint moved does it read the newest
version per (tenant, system, entity) and swap the mappers whose version differs. The swap changes how future
changes are mapped; nothing already mapped is redone (no resync).

A tenant's row whose spec names no tenant means "follows the hub-wide spec" (decision 071): applying it drops
the tenant's override instead of installing a copy, so a rollback to the hub-wide spec propagates too.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Connection, Engine, func, select

from concord.hubconfig import LiveMappings, MappingKey, Runtime
from concord.mappings.mapper import Mapper
from concord.mappings.registry import HUB_WIDE, MappingSet
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import builtin_transforms
from concord.security.tables import mapping_versions

log = logging.getLogger(__name__)


def load_spec(raw: str) -> MappingSpec:
    return MappingSpec.model_validate_json(raw, context={"transforms": builtin_transforms()})


def put_in_force(mappings: MappingSet, tenant: str, spec: MappingSpec) -> None:
    """Run a stored version: a tenant's row whose spec names no tenant means "follow the hub-wide spec"."""
    if tenant != HUB_WIDE and spec.tenant is None:
        mappings.drop(tenant, spec.system, spec.entity)
    else:
        mappings.put(Mapper(spec, builtin_transforms()))


def _remember(live: LiveMappings, mappings: MappingSet, key: MappingKey) -> None:
    """Keep what ran for `key` before its first stored version was applied (restored if its rows vanish)."""
    if key in live.before:
        return
    tenant, system, entity = key
    live.before[key] = mappings.get(system, entity) if tenant == HUB_WIDE else mappings.override(tenant, system,
                                                                                                 entity)


def activated(runtime: Runtime, tenant: str, spec: MappingSpec) -> None:
    """This process stored `spec` as `tenant`'s newest version: run it now. The next look compares versions
    again whatever the fingerprint, so a transaction that rolls back after this puts the stored one back."""
    live = runtime.live_mappings
    key = (tenant, spec.system, spec.entity)
    with live.lock:
        _remember(live, runtime.mappings, key)
        put_in_force(runtime.mappings, tenant, spec)
        live.applied[key] = spec.version
        live.fingerprint = None


def due(live: LiveMappings, interval: float) -> bool:
    return time.monotonic() - live.checked_at >= interval


def sync(conn: Connection, runtime: Runtime, interval: float | None = None) -> bool:
    """Put the newest stored version of every mapping in force where it differs from the one running; a cheap
    look (count and max over a tiny table) at most once per `interval` (default: the runtime's, 1 s unless
    CONCORD_MAPPING_SYNC_S says otherwise), so callers may call it on every batch. Returns whether a mapper was
    swapped."""
    live = runtime.live_mappings
    interval = live.interval if interval is None else interval
    if not due(live, interval):
        return False
    with live.lock:
        now = time.monotonic()
        if now - live.checked_at < interval:  # another thread looked while this one waited for the lock
            return False
        v = mapping_versions.c
        row = conn.execute(select(func.count(v.id), func.max(v.id))).one()
        fingerprint = (int(row[0]), None if row[1] is None else int(row[1]))
        live.checked_at = now
        if fingerprint == live.fingerprint:
            return False
        changed = _apply_newest(conn, runtime)
        live.fingerprint = fingerprint  # read before the versions: a row committed in between is seen next time
        return changed


def _apply_newest(conn: Connection, runtime: Runtime) -> bool:
    """Swap every mapper whose newest stored version is not the one applied; caller holds the lock."""
    live, v = runtime.live_mappings, mapping_versions.c
    rows = conn.execute(select(v.tenant, v.system, v.entity, func.max(v.version))
                        .group_by(v.tenant, v.system, v.entity))
    newest: dict[MappingKey, int] = {(r[0], r[1], r[2]): int(r[3]) for r in rows}
    changed = False
    for key, version in sorted(newest.items()):
        if live.applied.get(key) == version:
            continue
        tenant, system, entity = key
        raw = conn.execute(select(v.spec).where(v.tenant == tenant, v.system == system, v.entity == entity,
                                                v.version == version)).scalar_one()
        spec = load_spec(raw)
        _remember(live, runtime.mappings, key)
        put_in_force(runtime.mappings, tenant, spec)
        live.applied[key] = version
        changed = True
        log.info("mapping %s@%s of tenant %s now in force", f"{system}/{entity}", version, tenant)
    for key in [k for k in live.applied if k not in newest]:  # the store no longer has them: back to the files
        changed = _restore(live, runtime.mappings, key) or changed
    return changed


def _restore(live: LiveMappings, mappings: MappingSet, key: MappingKey) -> bool:
    del live.applied[key]
    before = live.before.pop(key, None)
    tenant, system, entity = key
    if before is not None:
        mappings.put(before)
    elif tenant != HUB_WIDE:
        mappings.drop(tenant, system, entity)
    return True


def sync_engine(engine: Engine, runtime: Runtime, interval: float | None = None) -> bool:
    """`sync` for callers without a transaction (mapping before the commit: ingest's prepare, a scale worker's
    batch): a connection is taken only when a look is due."""
    live = runtime.live_mappings
    if not due(live, live.interval if interval is None else interval):
        return False
    with engine.connect() as conn:
        return sync(conn, runtime, interval)
