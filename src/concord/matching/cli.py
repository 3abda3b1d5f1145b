"""`concord dedupe`: batch deduplication over the whole store, into clusters and a steward review queue."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from concord.cli.common import console, database, fail, settings
from concord.matching.batch import MatchRun
from concord.matching.batch import dedupe as run_dedupe
from concord.matching.decision import MatchSettings
from concord.matching.specs import SPECS
from concord.matching.store import golden_values, save_reviews

_ENTITIES = ("account", "contact")


def dedupe(
    entity: Annotated[str, typer.Option(help="account or contact")] = "account",
    tenant: Annotated[str, typer.Option(help="tenant to deduplicate")] = "default",
    report: Annotated[bool, typer.Option("--report", help="print every cluster and queued pair")] = False,
    save: Annotated[bool, typer.Option("--save/--no-save", help="write the review queue")] = True,
) -> None:
    """Find duplicate customers: auto-link clusters (guarded against chaining) and a review queue."""
    if entity not in _ENTITIES:
        raise fail(f"unknown entity {entity!r}; known: {', '.join(_ENTITIES)}")
    spec = SPECS[entity]
    match_settings = MatchSettings()
    started = time.perf_counter()
    with database(settings()) as engine, engine.begin() as conn:
        records = [(cid, spec.project(values)) for cid, values in golden_values(conn, tenant, entity)]
        run = run_dedupe(spec, [c for c, _ in records], [r for _, r in records], match_settings)
        queued = save_reviews(conn, tenant, entity, run.review, "dedupe") if save else 0
    elapsed = time.perf_counter() - started
    console.print(f"{len(records)} {entity} records, {run.candidates} candidate pairs, "
                  f"{len(run.clusters)} clusters, {len(run.review)} pairs for review "
                  f"({queued} newly queued) in {elapsed:.2f}s")
    if report:
        _print_report(run)


def _print_report(run: MatchRun) -> None:
    clusters = Table("cluster", "records", title="Auto-link clusters")
    for n, members in enumerate(run.clusters, 1):
        clusters.add_row(str(n), escape(", ".join(members)))
    console.print(clusters)
    queue = Table("left", "right", "score", "reason", "evidence", title="Review queue")
    for d in run.review:
        evidence = "; ".join(f"{e.field}={e.level}" for e in d.evidence if e.level != "missing")
        queue.add_row(escape(d.left_id), escape(d.right_id), f"{d.score:.1f}", escape(d.reason), escape(evidence))
    console.print(queue)
