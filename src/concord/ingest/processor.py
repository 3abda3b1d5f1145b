"""One group commit: every change of the batch goes through binder → gate → router in memory, then all of it
(golden records, bindings, change log, outbox, approvals) is written in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert

from concord.canonical.golden import GoldenRecord
from concord.canonical.lifecycle import IllegalTransition
from concord.events.derive import DerivedEvent, derive_events
from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ids import new_id
from concord.ingest.binder import BatchBinder, Hold
from concord.ingest.cache import BindingCache, RecordCache
from concord.ingest.models import ChangeError, ChangePublic, ChangeStatus
from concord.ingest.outcome import QUEUED_ATTEMPTS, change_public, change_row, event_rows
from concord.ingest.prepare import PreparedChange
from concord.ingest.router import route
from concord.mappings.mapper import RefResolver
from concord.matching.online import held_row
from concord.matching.store import DuplicateChecker
from concord.matching.tables import held_changes, match_reviews
from concord.ownership.gate import GateDecision, IncomingChange, evaluate
from concord.storage.repository import BatchWrites, IngestRepository, dumps

Outcome = ChangePublic | ChangeError


@dataclass
class BatchProcessor:
    runtime: Runtime
    conn: Connection
    writes: BatchWrites = field(default_factory=BatchWrites)
    records: dict[str, GoldenRecord] = field(default_factory=dict)
    read_versions: dict[str, int] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # ids looked up at preload and not found: new records
    cache: RecordCache = field(default_factory=lambda: RecordCache(0))
    bindings: BindingCache = field(default_factory=lambda: BindingCache(0))
    binder: BatchBinder | None = None
    checker: DuplicateChecker | None = None  # the online duplicate check, kept current with each change here
    held: list[dict[str, Any]] = field(default_factory=list)  # held_changes rows of this batch

    # Set by `load`, read by `process` and `flush`.
    repo: IngestRepository | None = None
    items: list[PreparedChange] = field(default_factory=list)
    results: list[Outcome | None] = field(default_factory=list)
    first_of: dict[tuple[str, str], int] = field(default_factory=dict)
    todo: list[int] = field(default_factory=list)

    def run(self, items: list[PreparedChange]) -> list[Outcome]:
        self.load(items)
        outcomes = self.process()
        self.flush()
        return outcomes

    def load(self, items: list[PreparedChange], ready: Callable[[], None] | None = None) -> None:
        """Read what the batch needs in a few statements: replays, bindings, golden records. Every read after
        this one goes through `ready` first (the pipelined writer waits there for the previous commit)."""
        repo = self.repo = IngestRepository(self.conn)
        self.items, self.results = items, [None] * len(items)
        replays = repo.replays(sorted({(p.tenant, p.idempotency_key) for p in items}))
        for i, p in enumerate(items):
            key = (p.tenant, p.idempotency_key)
            if key in replays:
                self.results[i] = ChangePublic.model_validate({**replays[key], "replayed": True})
            elif key not in self.first_of:
                self.first_of[key] = i
                self.todo.append(i)
        binder = self.binder = BatchBinder(repo, self.writes, self.bindings, checker=self.checker)
        ids = binder.preload([items[i] for i in self.todo])
        loaded = self.cache.get_many(ids)
        loaded.update(repo.golden(sorted(ids - loaded.keys())))
        self.records.update(loaded)
        self.read_versions.update({rid: rec.version for rid, rec in loaded.items()})
        self.absent = ids - loaded.keys()
        repo.ready = ready

    def process(self) -> list[Outcome]:
        """Binder → gate → router for every change, in memory; one outcome per item, in order."""
        assert self.repo is not None and self.binder is not None, "load() first"
        results, items = self.results, self.items
        for i in self.todo:
            results[i] = self._one(self.binder, self.repo, items[i])
        for i, p in enumerate(items):
            if results[i] is None:  # a repeat of a key first seen earlier in this same batch
                first = results[self.first_of[(p.tenant, p.idempotency_key)]]
                results[i] = first.model_copy(update={"replayed": True}) if isinstance(first, ChangePublic) else first
        return [r for r in results if r is not None]

    def _record(self, repo: IngestRepository, tenant: str, entity: str, canonical_id: str) -> GoldenRecord:
        record = self.records.get(canonical_id)
        if record is None:
            record = None if canonical_id in self.absent else repo.golden([canonical_id]).get(canonical_id)
            if record is None:
                record = GoldenRecord(tenant=tenant, entity=entity, id=canonical_id)
            self.read_versions[canonical_id] = record.version
            self.records[canonical_id] = record
        return record

    def _one(self, binder: BatchBinder, repo: IngestRepository, p: PreparedChange) -> Outcome:
        resolved = binder.resolve(p)
        if isinstance(resolved, Hold):
            return self._hold(p, resolved)
        canonical_id, _ = resolved
        record = self._record(repo, p.tenant, p.entity, canonical_id)
        created = record.version == 0
        values = dict(p.values)
        for path, (ref_entity, ext) in p.references.items():
            ref_id = binder.reference(p.tenant, p.system, ref_entity, ext)
            if ref_id == canonical_id:  # e.g. an account as its own parent: a cycle every hierarchy walk trips on
                return ChangeError(status=422, title="Self reference", field=path,
                                   detail=f"{path}: {p.system} record {p.external_id} refers to itself")
            self._record(repo, p.tenant, ref_entity, ref_id)
            values[path] = ref_id
        repeated: list[str] = []
        if p.system not in INTERNAL_SYSTEMS and p.approved_by is None:
            fresh = set(record.fresh_reports(p.system, values, p.source_ts_us))
            repeated = [path for path in values if path not in fresh]
        change = IncomingChange(tenant=p.tenant, entity=p.entity, system=p.system, source_ts_us=p.source_ts_us,
                                change_id=p.change_id, values={k: v for k, v in values.items() if k not in repeated},
                                mapping_version=p.mapping_version, approved_by=p.approved_by)
        try:
            new_record, decision = evaluate(record, change, self.runtime.rules)
        except IllegalTransition as exc:
            return ChangeError(status=409, title="Illegal lifecycle transition", detail=str(exc),
                               field="lifecycle_state")
        decision.unchanged.extend(repeated)
        if p.system not in INTERNAL_SYSTEMS:
            new_record.note_reports(p.system, values, p.source_ts_us)
        return self._commit_one(binder, p, new_record, decision, created)

    def _hold(self, p: PreparedChange, hold: Hold) -> ChangePublic:
        """Durable and logged, but applied nowhere: the steward's link or split releases it (matching.review)."""
        self.held.append(held_row(p.tenant, p.system, p.entity, p.external_id, hold.review_id, p.change_id,
                                  p.request.model_dump_json()))
        result = ChangePublic.model_construct(
            change_id=p.change_id, canonical_id="", status=ChangeStatus.HELD, created=False, applied=[], rejected=[],
            pending=[], stale=[], echoes=[], mapping_version=p.mapping_version, correlation_id=p.correlation_id,
            outbound_commands=0, replayed=False, review_id=hold.review_id)
        self.writes.changes.append(change_row(p, "", result, GateDecision()))
        return result

    def _commit_one(self, binder: BatchBinder, p: PreparedChange, record: GoldenRecord, decision: GateDecision,
                    created: bool) -> ChangePublic:
        bound = binder.bound_systems(record.id)
        commands = route(self.runtime, record, decision.applied, p.system, bound, self._resolvers(binder))
        for cmd in commands:
            if cmd.op == "create":
                record.mark_creating(cmd.system)
            for path in cmd.canonical_fields:
                record.remember_push(cmd.system, path, record.value(path))
        record.version += 1
        self.records[record.id] = record
        binder.remember_keys(p.tenant, p.entity, record.id, decision.applied)
        events = derive_events(p.entity, record.id, created, decision.applied, decision.previous, p.system,
                               sorted(bound))
        duplicate = binder.duplicate_of.pop((p.tenant, p.system, p.entity, p.external_id), None)
        if duplicate is not None:  # the same customer twice inside one system: a steward must look
            events.append(DerivedEvent("DuplicateDetected", {
                "entity": p.entity, "canonical_id": record.id, "source_system": p.system,
                "duplicate_of": duplicate[0], "score": 1.0, "rule": f"exact_key:{duplicate[1]}"}))
        result = change_public(p, record.id, created, decision, len(commands))
        self.writes.changes.append(change_row(p, record.id, result, decision))
        self.writes.outbox.extend(event_rows(p, record, events))
        self.writes.outbox.extend(
            self._command_row(p, record, cmd.system, cmd.to_payload(cmd.idempotency_key(p.change_id)))
            for cmd in commands)
        self.writes.approvals.extend(self._approval_rows(p, record.id, decision))
        if p.system not in INTERNAL_SYSTEMS:
            record.mark_synced(p.system, time.time())
        if self.checker is not None and decision.applied:
            self.checker.updated(record.tenant, record.entity, record.id, record.values())
        return result

    def _resolvers(self, binder: BatchBinder) -> Callable[[str], RefResolver]:
        # Built per target only when a mapping has a reference field to translate (rare): no per-change cost.
        def for_system(system: str) -> RefResolver:
            return lambda _entity, canonical_id: binder.bound_systems(canonical_id).get(system)

        return for_system

    def _command_row(self, p: PreparedChange, record: GoldenRecord, system: str,
                     payload: dict[str, Any]) -> tuple[Any, ...]:
        """The outbox row of one outbound command, in OUTBOX_COLUMNS order (decision 091)."""
        return (new_id(), record.tenant, "command", f"{payload['op']}_{record.entity}", system, record.entity,
                record.id, p.correlation_id, p.change_id, dumps(payload), time.time(), QUEUED_ATTEMPTS)

    def _approval_rows(self, p: PreparedChange, canonical_id: str, decision: GateDecision) -> list[dict[str, Any]]:
        now = time.time()
        return [{"id": new_id(), "tenant": p.tenant, "entity": p.entity,
                 "canonical_id": canonical_id, "field": a.field, "value": dumps(a.value), "current": dumps(a.current),
                 "owner": a.owner, "system": a.system, "source_ts_us": a.source_ts_us, "change_id": p.change_id,
                 "correlation_id": p.correlation_id, "status": "pending", "created_at": now, "decided_by": None,
                 "decided_at": None, "reason": None} for a in decision.pending]

    def flush(self) -> None:
        """Write everything the batch decided, one statement per table."""
        self.freeze()
        self.write()

    def freeze(self) -> None:
        """Settle which records the batch writes and serialise them (no database work: the pipelined writer does
        it while the previous batch's commit still holds the connection)."""
        for rid, record in self.records.items():
            old = self.read_versions[rid]
            if old == 0:
                record.version = max(record.version, 1)
                self.writes.new_records.append(record)
            elif record.version != old:
                self.writes.changed_records.append((record, old))
        self.writes.freeze(time.time())

    def write(self) -> None:
        assert self.repo is not None, "load() first"
        self.repo.write(self.writes)
        if self.binder is not None and self.binder.review_rows:
            self.conn.execute(insert(match_reviews), self.binder.review_rows)
        if self.held:
            self.conn.execute(insert(held_changes), self.held)
