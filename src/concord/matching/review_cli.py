"""`concord merge A B`, `concord unmerge MERGE_ID` and `concord review list / link / split`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from concord.cli.common import console, database, fail, runtime, settings
from concord.cli.identity import KeyOption, identify
from concord.ingest.service import IngestService
from concord.matching import review
from concord.matching.merging import MergeRefused, merge, unmerge
from concord.matching.tables import match_reviews, merges
from concord.security.scopes import Scope

review_app = typer.Typer(help="The steward's match review queue: list, link (same customer), split (different).",
                         no_args_is_help=True)
Tenant = Annotated[str, typer.Option(help="tenant")]


@contextmanager
def _service() -> Iterator[IngestService]:
    s = settings()
    rt = runtime(s)
    with database(s) as engine:
        service = IngestService(engine, rt, s.max_batch)
        service.start()
        try:
            yield service
        finally:
            service.stop()


def merge_cmd(survivor: Annotated[str, typer.Argument(help="canonical id that survives")],
              absorbed: Annotated[str, typer.Argument(help="canonical id folded into it")],
              tenant: Tenant = "default", reason: str = "", key: KeyOption = None) -> None:
    """Merge two golden records: survivorship by field ownership, bindings moved, related records re-pointed,
    CustomersMerged emitted."""
    who = identify(key)
    who.require(Scope.REVIEW_DECIDE, tenant)
    s = settings()
    hub = runtime(s)
    with database(s) as engine:
        try:
            with engine.begin() as conn:
                result = merge(conn, tenant, survivor, absorbed, who.actor, reason, runtime=hub)
        except MergeRefused as exc:
            raise fail(str(exc)) from exc
    console.print(f"{result.relinked} related records re-pointed to {escape(survivor)}")
    console.print(f"merged {escape(absorbed)} into {escape(survivor)} ({result.moved_bindings} bindings moved); "
                  f"undo with: concord unmerge {result.merge_id}")


def unmerge_cmd(merge_id: Annotated[str, typer.Argument(help="id printed by concord merge")],
                force: Annotated[bool, typer.Option(help="also when the survivor changed since")] = False,
                key: KeyOption = None) -> None:
    """Undo a merge: both records, their bindings, match keys and related records as they were."""
    who = identify(key)
    who.require_object(Scope.REVIEW_DECIDE, merges, merge_id)
    s = settings()
    hub = runtime(s)
    with database(s) as engine:
        try:
            with engine.begin() as conn:
                result = unmerge(conn, merge_id, who.actor, force, runtime=hub)
        except MergeRefused as exc:
            raise fail(str(exc)) from exc
    console.print(f"unmerged {escape(result.absorbed_id)} from {escape(result.survivor_id)} "
                  f"({result.moved_bindings} bindings, {result.relinked} related records restored)")


@review_app.command("list")
def list_cmd(tenant: Tenant = "default",
             status: Annotated[str, typer.Option(help=f"one of {', '.join(review.STATUSES)}")] = "pending",
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Pairs waiting for a steward, best score first, with the evidence per field."""
    if status not in review.STATUSES:
        raise fail(f"--status must be one of {', '.join(review.STATUSES)}, not {status!r}")
    with database(settings()) as engine, engine.connect() as conn:
        rows = review.list_reviews(conn, tenant, status)
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    table = Table("id", "existing", "other", "score", "source", "reason", "evidence", title=f"Reviews ({status})")
    for r in rows:
        evidence = "; ".join(f"{e['field']}={e['level']}" for e in r["evidence"] if e["level"] != "missing")
        table.add_row(r["id"], escape(r["left_id"]), escape(r["right_id"]), f"{r['score']:.1f}", r["source"],
                      escape(r["reason"]), escape(evidence))
    console.print(table)


def _decide(decide: Callable[[IngestService, str, str], review.Verdict], review_id: str, key: str | None) -> None:
    who = identify(key)
    who.require_object(Scope.REVIEW_DECIDE, match_reviews, review_id)
    with _service() as service:
        try:
            verdict = decide(service, review_id, who.actor)
        except review.ReviewNotFound as exc:
            raise fail(f"no review {review_id}") from exc
        except (review.ReviewClosed, MergeRefused) as exc:
            raise fail(str(exc)) from exc
    merged = f", merge {verdict.merge.merge_id}" if verdict.merge else ""
    console.print(f"review {review_id}: {verdict.status} → customer {escape(verdict.canonical_id)} "
                  f"({verdict.released} held changes released{merged})")


@review_app.command("link")
def link_cmd(review_id: str, key: KeyOption = None) -> None:
    """Same customer: release the held record into it, or merge the two golden records."""
    _decide(review.link, review_id, key)


@review_app.command("split")
def split_cmd(review_id: str, key: KeyOption = None) -> None:
    """Different customers: the held record becomes its own customer; two golden records stay apart."""
    _decide(review.split, review_id, key)


def register(app: typer.Typer) -> None:
    app.command("merge")(merge_cmd)
    app.command("unmerge")(unmerge_cmd)
    app.add_typer(review_app, name="review")
