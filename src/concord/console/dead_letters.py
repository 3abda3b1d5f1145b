"""Dead letters and replay: browse, inspect payload and error, retry, discard; start a replay. The actions
are the ones the CLI runs (`concord dlq …`, `concord replay`), through the same store and replay functions."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from concord.api.deps import AppContext, context
from concord.api.guards import INT64_MAX
from concord.api.problems import Problem
from concord.api.routes.mapping_changes import hub_wide
from concord.console.app import render
from concord.console.forms import back, checked_form, record_action
from concord.console.mappings import config_signature
from concord.events import tables as et
from concord.events.hub import EventSettings, MissingSecret, build_runner, build_subscriber, open_log
from concord.events.registry import SchemaRegistry
from concord.events.replay import ReplayReport, replay
from concord.events.routing import load_routing
from concord.events.store import ConsumerStore
from concord.security.scopes import ALL_TENANTS, Principal, Scope
from concord.yamlconf import ConfigError

router = APIRouter(prefix="/console/dead-letters", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
RowId = Annotated[int, Path(ge=1, le=INT64_MAX)]  # a row id beyond BIGINT cannot exist: 422, not an overflow
# Hub-wide: dead letters and replays span tenants (a subscription carries every tenant's events), so these pages
# are for an operator's all-tenant key.
Read = Depends(hub_wide(Scope.EVENTS_READ))
Operator = Annotated[Principal, Depends(hub_wide(Scope.EVENTS_OPERATE))]
PAGE = "/console/dead-letters"
SHOWN = 100
_names: dict[tuple[str, object], list[str]] = {}
_names_lock = threading.Lock()


def _recent_replays(ctx: AppContext) -> list[dict[str, Any]]:
    r = et.event_replays.c
    with ctx.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(et.event_replays).order_by(r.id.desc()).limit(10))]


def subscription_names(ctx: AppContext) -> list[str]:
    """The subscriptions of events.yaml, re-read only when the configuration files change."""
    key = (str(ctx.settings.config_dir), config_signature(ctx.runtime.config_dir))
    with _names_lock:
        if key not in _names:
            try:
                names = sorted(load_routing(ctx.settings.config_dir, set(SchemaRegistry.default().types()))
                               .subscriptions)
            except ConfigError:
                names = []
            _names.clear()
            _names[key] = names
        return _names[key]


@router.get("", response_class=HTMLResponse, dependencies=[Read])
async def dead_letters(ctx: Ctx, request: Request,
                       status: Annotated[str, Query(pattern="^(dead|retried|discarded)$")] = "dead",
                       subscription: Annotated[str | None, Query(max_length=128)] = None) -> HTMLResponse:
    store = ConsumerStore(ctx.engine)
    letters = await asyncio.to_thread(store.dead_letters, subscription or None, status, SHOWN)
    return render(request, "dead_letters.html", letters=letters, status=status, subscription=subscription or "",
                  subscriptions=subscription_names(ctx), replays=await asyncio.to_thread(_recent_replays, ctx))


@router.get("/{letter_id}", response_class=HTMLResponse, dependencies=[Read])
async def dead_letter(ctx: Ctx, request: Request, letter_id: RowId) -> HTMLResponse:
    letter = await asyncio.to_thread(ConsumerStore(ctx.engine).dead_letter_by_id, letter_id)
    if letter is None:
        raise Problem(404, "Not found", f"no dead letter {letter_id}")
    return render(request, "dead_letter.html", letter=letter,
                  envelope=letter.envelope.model_dump_json(indent=2))


@router.post("/{letter_id}/{action}")
async def act_on_letter(ctx: Ctx, request: Request, letter_id: RowId, action: str, principal: Operator
                        ) -> RedirectResponse:
    await checked_form(request)
    store = ConsumerStore(ctx.engine)
    letter = await asyncio.to_thread(store.dead_letter_by_id, letter_id)
    if letter is None or letter.status != "dead":
        return back(PAGE, f"no dead letter {letter_id} waiting for a decision", "error")
    if action not in ("retry", "discard"):
        return back(PAGE, f"unknown action {action!r}", "error")
    await asyncio.to_thread(store.retry_dead_letter if action == "retry" else store.discard_dead_letter, letter)
    record_action(ctx.engine, principal, f"dead_letter.{action}", "dead_letter", str(letter_id),
                  tenant=letter.envelope.tenant, customer=letter.customer_key,
                  after={"subscription": letter.subscription, "event_id": letter.event_id})
    if action == "retry":
        return back(PAGE, f"dead letter {letter_id} queued again for {letter.subscription}")
    return back(PAGE, f"dead letter {letter_id} discarded")


def run_replay(ctx: AppContext, subscription: str, start: int | datetime, customer: str | None,
               event_type: str | None) -> ReplayReport:
    """Build the subscription's runner as `concord replay` does, replay, close everything."""
    registry = SchemaRegistry.default()
    routing = load_routing(ctx.settings.config_dir, set(registry.types()))
    config = routing.subscriptions[subscription]
    log = open_log(EventSettings(), ctx.engine)
    try:
        with httpx.Client() as http:
            subscriber = build_subscriber(subscription, config, http, os.environ)
            if subscriber is None:
                raise MissingSecret(f"subscription {subscription} is not enabled here (its variables are unset)")
            runner = build_runner(subscription, config, log, ctx.engine, registry, subscriber)
            try:
                return replay(runner, start, customer, event_type)
            finally:
                runner.close()
    finally:
        log.close()


def _start(value: str) -> int | datetime | None:
    if value.isdigit():
        return int(value)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@router.post("/replay")
async def start_replay(ctx: Ctx, request: Request, principal: Operator) -> RedirectResponse:
    form = await checked_form(request)
    subscription = form.get("subscription", "")
    if subscription not in subscription_names(ctx):
        return back(PAGE, f"subscription: unknown subscription {subscription!r}", "error")
    start = _start(form.get("from", "0").strip() or "0")
    if start is None:
        return back(PAGE, "from: must be a log offset or an ISO 8601 time", "error")
    try:
        report = await asyncio.to_thread(run_replay, ctx, subscription, start, form.get("customer") or None,
                                         form.get("type") or None)
    except MissingSecret as exc:
        return back(PAGE, str(exc), "error")
    summary = asdict(report)
    record_action(ctx.engine, principal, "replay.run", "replay", str(report.replay_id), tenant=ALL_TENANTS,
                  after={k: v for k, v in summary.items() if k != "errors"} | {"subscription": subscription})
    return back(PAGE, f"replay #{summary['replay_id']} to {subscription}: scanned {report.scanned}, "
                      f"delivered {report.delivered}, failed {report.failed}", "error" if report.failed else "ok")
