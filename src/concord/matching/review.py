"""Steward verdicts on the match review queue: `link` (same customer) and `split` (different customers).

A pair of two golden records is merged on link (`merging.merge`, the lower-scored side into the existing one).
A pair whose right side is an incoming record held by the online check (`ext:system:id`) releases the held
changes on either verdict: into the existing customer on link, as a new customer on split. Every verdict is
stored (status same / different, who, when) and is what `store.steward_model` trains m/u from (decision 026).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangeError
from concord.ingest.service import IngestService
from concord.matching.merging import MergeResult, merge
from concord.matching.online import HELD_PREFIX
from concord.matching.tables import held_changes, match_reviews

STATUSES = ("pending", "same", "different", "auto")


class ReviewNotFound(LookupError):
    pass


class ReviewClosed(ValueError):
    """Already decided, or not a verdict this review can take; deciding twice is refused (409)."""


@dataclass(frozen=True)
class Verdict:
    review_id: str
    status: str
    canonical_id: str  # the customer the right side now belongs to
    released: int = 0  # held changes released into ingest
    merge: MergeResult | None = None


def list_reviews(conn: Connection, tenant: str | None, status: str | None = "pending", entity: str | None = None,
                 limit: int = 200) -> list[dict[str, Any]]:
    """Reviews of `tenant` (None: every tenant's, for an all-tenant caller)."""
    m = match_reviews.c
    stmt = select(match_reviews)
    if tenant is not None:
        stmt = stmt.where(m.tenant == tenant)
    if status is not None:
        stmt = stmt.where(m.status == status)
    if entity is not None:
        stmt = stmt.where(m.entity == entity)
    rows = conn.execute(stmt.order_by(m.score.desc(), m.id).limit(limit))
    return [{**r._mapping, "evidence": orjson.loads(r.evidence)} for r in rows]


def review_tenant(conn: Connection, review_id: str) -> str | None:
    """The tenant a review belongs to, or None when there is no such review."""
    m = match_reviews.c
    tenant: str | None = conn.execute(select(m.tenant).where(m.id == review_id)).scalar()
    return tenant


def _pending(conn: Connection, review_id: str) -> Any:
    row = conn.execute(select(match_reviews).where(match_reviews.c.id == review_id)).first()
    if row is None:
        raise ReviewNotFound(review_id)
    if row.status != "pending":
        raise ReviewClosed(f"review {review_id} is already {row.status}")
    return row


def _close(conn: Connection, review_id: str, status: str, actor: str) -> None:
    m = match_reviews.c
    done = conn.execute(update(match_reviews).where(m.id == review_id, m.status == "pending").values(
        status=status, decided_by=actor, decided_at=time.time())).rowcount
    if done != 1:
        raise ReviewClosed(f"review {review_id} was decided concurrently")


def _release(service: IngestService, review_id: str, canonical_id: str) -> int:
    """Submit the held changes again, in arrival order, addressed to `canonical_id`; then mark them released."""
    h = held_changes.c
    with service.engine.connect() as conn:
        rows = conn.execute(select(h.id, h.request).where(h.review_id == review_id, h.status == "held")
                            .order_by(h.created_at, h.id)).all()
    changes = [ChangeCreate.model_validate({**orjson.loads(r.request), "canonical_id": canonical_id,
                                            "idempotency_key": f"review:{r.id}"}) for r in rows]
    if changes:
        refused = [o for o in service.ingest(changes) if isinstance(o, ChangeError)]
        if refused:
            raise ReviewClosed(f"held change refused on release: {refused[0].detail}")
    with service.engine.begin() as conn:
        conn.execute(update(held_changes).where(h.id.in_([r.id for r in rows]))
                     .values(status="released", released_at=time.time()))
    return len(rows)


def link(service: IngestService, review_id: str, actor: str) -> Verdict:
    """Same customer: release held changes into the existing one, or merge the two golden records."""
    with service.engine.connect() as conn:
        row = _pending(conn, review_id)
    if row.right_id.startswith(HELD_PREFIX):
        released = _release(service, review_id, row.left_id)
        with service.engine.begin() as conn:
            _close(conn, review_id, "same", actor)
        return Verdict(review_id, "same", row.left_id, released)
    with service.engine.begin() as conn:
        _close(conn, review_id, "same", actor)
        result = merge(conn, row.tenant, row.left_id, row.right_id, actor, f"review {review_id}",
                       runtime=service.runtime)
    return Verdict(review_id, "same", row.left_id, merge=result)


def split(service: IngestService, review_id: str, actor: str) -> Verdict:
    """Different customers: a held record becomes a customer of its own; two golden records stay apart."""
    with service.engine.connect() as conn:
        row = _pending(conn, review_id)
    if row.right_id.startswith(HELD_PREFIX):
        canonical_id = new_id()
        released = _release(service, review_id, canonical_id)
        with service.engine.begin() as conn:
            _close(conn, review_id, "different", actor)
        return Verdict(review_id, "different", canonical_id, released)
    with service.engine.begin() as conn:
        _close(conn, review_id, "different", actor)
    return Verdict(review_id, "different", row.right_id)

