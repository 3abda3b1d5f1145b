"""The fault-injecting proxy: an ASGI app in front of any HTTP system (a sandbox twin, Tryton, a receiver).

Per matching request one seeded draw picks at most one fault: a 429 with `Retry-After`, a 5xx, a timeout
(held past the client's patience), or — for writes — a drop after write: the upstream applies the write and
the client gets a 502/504 or a cut connection. With `plan.webhook` set, POSTs are webhook deliveries that
are duplicated and reordered on their way to the receiver. Admin endpoints live under `/__faults__/`.
"""

from __future__ import annotations

import asyncio
import random

import httpx
from fastapi import FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from concord.sandbox.faultproxy.forward import (
    Incoming,
    Upstream,
    client_hung_up,
    cut_connection,
    read_request,
    relay,
    send_json,
)
from concord.sandbox.faultproxy.plan import Decision, FaultKind, FaultPlan, decide
from concord.sandbox.faultproxy.stats import AppliedButFailed, FaultStats
from concord.sandbox.faultproxy.webhooks import Delivery, FanoutBuffer


class ProxySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    admin_prefix: str = "/__faults__"
    upstream_timeout_s: float = Field(default=30.0, gt=0)
    # Keep the client's Host so twins that build absolute links (paging, Location) point back at the proxy.
    preserve_host: bool = True
    applied_log_size: int = Field(default=200, ge=1)


class FaultProxy:
    """The ASGI callable. `stats` and `plan` are also readable in-process."""

    def __init__(self, upstream_url: str, plan: FaultPlan, settings: ProxySettings) -> None:
        self.settings = settings
        self.stats = FaultStats()
        self._upstream = Upstream(upstream_url, settings.upstream_timeout_s, settings.preserve_host)
        self._deliver_lock = asyncio.Lock()
        self._install(plan)
        self._admin = _admin_app(self)

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def _install(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)
        webhook = plan.webhook
        self._fanout = None if webhook is None else FanoutBuffer(webhook, self._rng, self.stats.webhooks)

    async def replace_plan(self, plan: FaultPlan) -> None:
        """Install a new plan and restart its random sequence; held webhooks are delivered first."""
        await self.flush_webhooks()
        self._install(plan)

    def reset_stats(self) -> None:
        """Zero the counters; the plan, its random sequence and held webhooks stay as they are."""
        self.stats = FaultStats()
        if self._fanout is not None:
            self._fanout.stats = self.stats.webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and str(scope["path"]).startswith(self.settings.admin_prefix):
            await self._admin(scope, receive, send)
        elif scope["type"] == "http":
            await self._handle(await read_request(scope, receive), receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self._upstream.aclose()

    # -- API mode -----------------------------------------------------------------------------------------

    async def _handle(self, request: Incoming, receive: Receive, send: Send) -> None:
        self.stats.requests += 1
        plan = self._plan
        if not plan.matches(request.method, request.path):
            await self._pass_through(request, send)
            return
        self.stats.matched += 1
        if self._fanout is not None and request.method == "POST":
            await self._fan_out(self._fanout, request, send)
            return
        decision = decide(plan, self._rng, request.method)
        if decision.delay_s > 0:
            self.stats.delayed += 1
            self.stats.delay_ms_total += decision.delay_s * 1000
            await asyncio.sleep(decision.delay_s)
        await self._apply(decision, request, receive, send)

    async def _apply(self, decision: Decision, request: Incoming, receive: Receive, send: Send) -> None:
        if decision.kind is FaultKind.RATE_LIMIT:
            self.stats.rate_limited += 1
            retry_after = str(self._plan.retry_after_s)
            body = {"message": "Too many requests (injected)", "status": 429}
            await send_json(send, 429, body, [("retry-after", retry_after)])
        elif decision.kind is FaultKind.SERVER_ERROR:
            status = decision.status or 500
            self.stats.count(self.stats.server_errors, str(status))
            await send_json(send, status, {"message": "Server error (injected)", "status": status})
        elif decision.kind is FaultKind.TIMEOUT:
            await self._timeout(request, receive, send)
        elif decision.kind is FaultKind.DROP_AFTER_WRITE:
            await self._drop_after_write(decision, request, send)
        else:
            await self._pass_through(request, send)

    async def _forward(self, request: Incoming) -> httpx.Response | None:
        try:
            response = await self._upstream.forward(request)
        except httpx.HTTPError:
            self.stats.upstream_errors += 1
            return None
        self.stats.forwarded += 1
        return response

    async def _pass_through(self, request: Incoming, send: Send) -> None:
        response = await self._forward(request)
        if response is None:
            await send_json(send, 502, {"message": "Upstream unreachable", "status": 502})
        else:
            await relay(send, response)

    async def _timeout(self, request: Incoming, receive: Receive, send: Send) -> None:
        self.stats.timeouts += 1
        if self._plan.timeout_forwards:
            response = await self._forward(request)
            self._note_applied(request, response, "timeout")
        if not await client_hung_up(receive, self._plan.timeout_hold_s):
            await send_json(send, 504, {"message": "Gateway timeout (injected)", "status": 504})

    async def _drop_after_write(self, decision: Decision, request: Incoming, send: Send) -> None:
        response = await self._forward(request)
        if decision.disconnect:
            self.stats.count(self.stats.drops, "disconnect")
            self._note_applied(request, response, "disconnect")
            await cut_connection(send)
            return
        status = decision.status or 502
        self.stats.count(self.stats.drops, str(status))
        self._note_applied(request, response, str(status))
        await send_json(send, status, {"message": "Bad gateway", "status": status})

    def _note_applied(self, request: Incoming, response: httpx.Response | None, client_saw: str) -> None:
        if response is None or response.status_code >= 400 or not request.is_write:
            return
        record = AppliedButFailed(
            method=request.method,
            path=request.path,
            upstream_status=response.status_code,
            client_saw=client_saw,
        )
        self.stats.applied(record, self.settings.applied_log_size)

    # -- webhook fan-out mode -----------------------------------------------------------------------------

    async def _fan_out(self, fanout: FanoutBuffer, request: Incoming, send: Send) -> None:
        async with self._deliver_lock:
            self.stats.webhooks.received += 1
            delivery = Delivery(
                self.stats.webhooks.received,
                request.method,
                request.path,
                request.query,
                request.headers,
                request.body,
            )
            responses = await self._deliver(fanout.admit(delivery))
        original = responses.get((delivery.seq, 0))
        if original is not None:
            await relay(send, original)
        elif (delivery.seq, 0) in responses:
            await send_json(send, 502, {"message": "Receiver unreachable", "status": 502})
        else:
            await send_json(send, 202, {"held": True})

    async def _deliver(self, due: list[Delivery]) -> dict[tuple[int, int], httpx.Response | None]:
        """Send in order; the caller holds the delivery lock so concurrent senders cannot interleave."""
        responses: dict[tuple[int, int], httpx.Response | None] = {}
        for item in due:
            as_request = Incoming(item.method, item.path, item.query, item.headers, item.body)
            response = await self._forward(as_request)
            if response is None or response.status_code >= 400:
                self.stats.webhooks.delivery_errors += 1
            else:
                self.stats.webhooks.delivered += 1
            responses[(item.seq, item.copy)] = response
        return responses

    async def flush_webhooks(self) -> int:
        if self._fanout is None:
            return 0
        async with self._deliver_lock:
            due = self._fanout.flush()
            await self._deliver(due)
        return len(due)


def _admin_app(proxy: FaultProxy) -> FastAPI:
    prefix = proxy.settings.admin_prefix
    admin = FastAPI(title="Concord fault proxy", openapi_url=None, docs_url=None, redoc_url=None)

    @admin.get(f"{prefix}/plan")
    async def get_plan() -> FaultPlan:
        return proxy.plan

    @admin.put(f"{prefix}/plan")
    async def put_plan(plan: FaultPlan) -> FaultPlan:
        await proxy.replace_plan(plan)
        return proxy.plan

    @admin.get(f"{prefix}/stats")
    async def get_stats() -> FaultStats:
        return proxy.stats

    @admin.delete(f"{prefix}/stats", status_code=204)
    async def reset_stats() -> Response:
        proxy.reset_stats()
        return Response(status_code=204)

    @admin.post(f"{prefix}/webhooks/flush")
    async def flush() -> dict[str, int]:
        return {"delivered": await proxy.flush_webhooks()}

    return admin


def create_app(
    upstream_url: str, plan: FaultPlan | None = None, settings: ProxySettings | None = None
) -> FaultProxy:
    """A proxy for `upstream_url`; serve it with `serve_in_thread(create_app(...))`."""
    return FaultProxy(upstream_url, plan or FaultPlan(), settings or ProxySettings())
