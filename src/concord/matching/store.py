"""The matching side of the store: golden records in, review-queue rows out. The only module of
`concord.matching` that does I/O; everything it feeds is pure."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, insert, select

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.ids import new_id
from concord.matching.batch import agreement, fit
from concord.matching.blocking import dedupe_pairs
from concord.matching.compare import MISSING
from concord.matching.decision import MatchDecision, MatchSettings
from concord.matching.follow import ChangeFeed, Named, current_values
from concord.matching.index import CheckResult, MatchIndex
from concord.matching.model import FSModel, train
from concord.matching.specs import SPECS, MatchSpec, Row
from concord.matching.tables import match_reviews
from concord.storage import tables as t

CHECKED_ENTITIES = frozenset({"account", "contact"})
_FIT_SAMPLE = 20_000  # records sampled to estimate the model: enough for stable m/u, cheap at any store size


def golden_values(conn: Connection, tenant: str, entity: str) -> Iterator[tuple[str, dict[str, JsonValue]]]:
    """(canonical id, flat values) of every golden record of one tenant and entity, streamed."""
    g = t.golden_records.c
    stmt = (select(g.id, g.version, g.data).where(g.tenant == tenant, g.entity == entity)
            .execution_options(yield_per=2000))
    for row in conn.execute(stmt):
        yield row.id, GoldenRecord.from_json(tenant, entity, row.id, row.version, orjson.loads(row.data)).values()


def fit_model(spec: MatchSpec, rows: Sequence[Row], settings: MatchSettings) -> FSModel:
    """The spec's model refined on (a sample of) the store's own records, without any labels."""
    sample = list(rows)
    if len(sample) > _FIT_SAMPLE:
        sample = random.Random(settings.seed).sample(sample, _FIT_SAMPLE)
    pairs = dedupe_pairs([spec.block_keys(r) for r in sample], settings.max_block)
    return fit(spec, sample, agreement(spec.model(), sample, sample, pairs), settings)


def load_index(conn: Connection, tenant: str, entity: str, settings: MatchSettings | None = None) -> MatchIndex:
    """Build the online duplicate check for one tenant and entity from the golden records."""
    settings = settings or MatchSettings()
    spec = SPECS[entity]
    records = [(cid, spec.project(values)) for cid, values in golden_values(conn, tenant, entity)]
    # Steward verdicts, once there are enough of both kinds, replace the unsupervised estimate (decision 026).
    model = steward_model(conn, tenant, entity) or fit_model(spec, [r for _, r in records], settings)
    index = MatchIndex(spec, model, settings)
    for cid, row in records:
        index.upsert_row(cid, row)
    return index


def save_reviews(conn: Connection, tenant: str, entity: str, decisions: Sequence[MatchDecision], source: str,
                 now: float | None = None) -> int:
    """Queue pairs for a steward; a pair already queued (in either order) is left as it is. Returns new rows."""
    m = match_reviews.c
    existing = {(r.left_id, r.right_id) for r in conn.execute(
        select(m.left_id, m.right_id).where(m.tenant == tenant, m.entity == entity))}
    at = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for d in decisions:
        left, right = sorted((d.left_id, d.right_id))
        if (left, right) in existing:
            continue
        existing.add((left, right))
        body = d.to_json()
        rows.append({"id": new_id(), "tenant": tenant, "entity": entity, "left_id": left, "right_id": right,
                     "score": d.score, "outcome": d.outcome.value, "reason": d.reason,
                     "evidence": orjson.dumps(body["evidence"]).decode(), "source": source, "status": "pending",
                     "created_at": at})
    if rows:
        conn.execute(insert(match_reviews), rows)
    return len(rows)


def pending_reviews(conn: Connection, tenant: str, entity: str) -> list[dict[str, Any]]:
    m = match_reviews.c
    stmt = (select(match_reviews).where(m.tenant == tenant, m.entity == entity, m.status == "pending")
            .order_by(m.score.desc()))
    return [{**r._asdict(), "evidence": orjson.loads(r.evidence)} for r in conn.execute(stmt)]


def steward_model(conn: Connection, tenant: str, entity: str, min_each: int = 20) -> FSModel | None:
    """m/u counted from the steward's verdicts (status `same` / `different`), read back from the evidence the
    queue stored; None until there are `min_each` verdicts of each kind."""
    spec = SPECS[entity]
    m = match_reviews.c
    stmt = select(m.status, m.evidence).where(m.tenant == tenant, m.entity == entity,
                                              m.status.in_(("same", "different")))
    gammas: list[list[int]] = []
    labels: list[bool] = []
    for row in conn.execute(stmt):
        levels = {e["field"]: e["level"] for e in orjson.loads(row.evidence)}
        gammas.append([cmp.labels.index(levels[cmp.field]) if levels.get(cmp.field) in cmp.labels else MISSING
                       for cmp in spec.comparators])
        labels.append(row.status == "same")
    if min(sum(labels), len(labels) - sum(labels)) < min_each:
        return None
    return train(spec.comparators, np.asarray(gammas, dtype=np.int8), np.asarray(labels, dtype=bool))


@dataclass
class DuplicateChecker:
    """The online check for every tenant and entity of a process. Each index is built from the store once, on
    first use (`full_builds` counts those), then kept current by following the change log before every check
    (`follow`): records any process committed since are re-read, merged-away ones dropped. The caller may also
    report its own writes at once (`updated` / `removed`), so a batch sees its own new records before commit."""

    settings: MatchSettings = field(default_factory=MatchSettings)
    entities: frozenset[str] = CHECKED_ENTITIES
    indexes: dict[tuple[str, str], MatchIndex] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    feed: ChangeFeed = field(default_factory=ChangeFeed)
    full_builds: int = 0
    touched: set[Named] = field(default_factory=set)  # reported here, not yet seen committed in the log
    suspect: set[Named] = field(default_factory=set)  # reported by a transaction that rolled back

    def check(self, conn: Connection, tenant: str, entity: str, values: Mapping[str, JsonValue],
              exclude: str | None = None) -> CheckResult | None:
        """None for entities without identity matching (contracts, subscriptions, ...)."""
        if entity not in self.entities:
            return None
        with self.lock:
            self._catch_up(conn)
            index = self.indexes.get((tenant, entity))
            if index is None:
                self.feed.start(conn)  # before the build: whatever commits during it is read again after
                index = self.indexes[(tenant, entity)] = load_index(conn, tenant, entity, self.settings)
                self.full_builds += 1
            return index.check(values, exclude)

    def _catch_up(self, conn: Connection) -> None:
        if not self.indexes:
            return
        named = self.feed.read(conn)
        self.touched.difference_update(named)
        wanted = {n for n in (*named, *self.suspect) if (n[0], n[1]) in self.indexes}
        self.suspect.clear()
        current = current_values(conn, (cid for _, _, cid in wanted))
        for tenant, entity, cid in wanted:
            index = self.indexes[(tenant, entity)]
            found = current.get(cid)
            if found is None or found[:2] != (tenant, entity):
                index.remove(cid)
            else:
                index.upsert(cid, found[2])

    def updated(self, tenant: str, entity: str, canonical_id: str, values: Mapping[str, JsonValue]) -> None:
        with self.lock:
            index = self.indexes.get((tenant, entity))
            if index is not None:
                index.upsert(canonical_id, values)
                self.touched.add((tenant, entity, canonical_id))

    def committed(self) -> None:
        """The transaction that reported `updated` / `removed` committed: nothing to re-read."""
        with self.lock:
            self.touched.clear()

    def segment(self) -> set[Named]:
        """Hand over what has been reported so far, as one transaction's part: the pipelined writer reports the
        next batch's records before the previous batch's commit is known (`rolled_back` if it fails)."""
        with self.lock:
            named, self.touched = self.touched, set()
            return named

    def rolled_back(self, named: set[Named]) -> None:
        """A transaction whose part `segment` handed over rolled back: re-read those records on the next check."""
        with self.lock:
            self.suspect |= named

    def forget(self) -> None:
        """The transaction that reported `updated` / `removed` rolled back: re-read those records from the store
        on the next check (committed ones arrive through the change log anyway)."""
        with self.lock:
            self.suspect |= self.touched
            self.touched.clear()

    def removed(self, tenant: str, entity: str, canonical_id: str) -> None:
        with self.lock:
            index = self.indexes.get((tenant, entity))
            if index is not None:
                index.remove(canonical_id)
                self.touched.add((tenant, entity, canonical_id))
