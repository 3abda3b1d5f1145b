"""The running twin's parts, and the request helpers every route uses."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from concord.sandbox.common import SlidingWindowLimiter
from concord.sandbox.stripe.delivery import WebhookDispatcher
from concord.sandbox.stripe.forms import Params, parse_pairs
from concord.sandbox.stripe.idempotency import IdempotencyStore
from concord.sandbox.stripe.listing import expand
from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.stripe.store import StripeObject, StripeStore
from concord.sandbox.stripe.subscriptions import Billing


@dataclass
class StripeTwin:
    settings: StripeTwinSettings
    store: StripeStore
    billing: Billing
    dispatcher: WebhookDispatcher
    idempotency: IdempotencyStore
    read_limiter: SlidingWindowLimiter
    write_limiter: SlidingWindowLimiter

    @classmethod
    def build(cls, settings: StripeTwinSettings) -> StripeTwin:
        store = StripeStore(clock=settings.clock, api_version=settings.api_version)
        dispatcher = WebhookDispatcher(store, settings)
        store.subscribe(dispatcher.on_event)
        limit = settings.rate_limit_per_second
        return cls(
            settings=settings,
            store=store,
            billing=Billing(store),
            dispatcher=dispatcher,
            idempotency=IdempotencyStore(clock=settings.clock, ttl_s=settings.idempotency_ttl_s),
            # Stripe counts reads and writes against separate per-second allowances.
            read_limiter=SlidingWindowLimiter(limit=limit, window_s=1.0, clock=settings.clock),
            write_limiter=SlidingWindowLimiter(limit=limit, window_s=1.0, clock=settings.clock),
        )

    def reset(self) -> None:
        self.dispatcher.reset()
        self.store.reset()
        self.billing.reset()
        self.idempotency.reset()

    def close(self) -> None:
        self.dispatcher.close()


def twin_of(request: Request) -> StripeTwin:
    twin: StripeTwin = request.app.state.twin
    return twin


async def read_params(request: Request) -> Params:
    """Query string and form body together, as Stripe reads them (GET/DELETE send only a query)."""
    cached: Params | None = getattr(request.state, "params", None)
    if cached is not None:
        return cached
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method == "POST":
        body = await request.body()
        pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    params = Params(parse_pairs(pairs))
    request.state.params = params
    return params


def respond(twin: StripeTwin, obj: StripeObject, params: Params, status: int = 200) -> JSONResponse:
    return JSONResponse(expand(obj, params.strings("expand"), twin.store), status_code=status)
