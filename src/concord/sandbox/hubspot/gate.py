"""What stands in front of every CRM call: private-app bearer auth and HubSpot's rate limits.

Private apps get a rolling burst window (190 requests / 10 s on Professional) and a daily account quota.
Every admitted or throttled call carries the `X-HubSpot-RateLimit-*` headers; a throttled one gets the
documented 429 body naming the policy (TEN_SECONDLY_ROLLING or DAILY). Twin-only admin paths under
`/__twin__/` bypass both.
"""

from __future__ import annotations

import hmac
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from concord.sandbox.common import DailyQuota, SlidingWindowLimiter
from concord.sandbox.hubspot.errors import CORRELATION_HEADER, correlation_id_of, error_response, unauthorized
from concord.sandbox.hubspot.settings import HubSpotTwinSettings

BURST_POLICY = "TEN_SECONDLY_ROLLING"
DAILY_POLICY = "DAILY"
_MESSAGES = {
    BURST_POLICY: "You have reached your ten_secondly_rolling limit.",
    DAILY_POLICY: "You have reached your daily limit.",
}


@dataclass
class GateStats:
    requests: int = 0
    unauthorized: int = 0
    rate_limited: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def to_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "unauthorized": self.unauthorized,
            "rateLimited": {policy: self.rate_limited[policy] for policy in (BURST_POLICY, DAILY_POLICY)},
            "byStatus": {str(status): count for status, count in sorted(self.by_status.items())},
        }


class Gate:
    def __init__(self, settings: HubSpotTwinSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self.limiter = SlidingWindowLimiter(limit=s.burst_limit, window_s=s.burst_window_s, clock=s.clock)
        self.quota = DailyQuota(limit=s.daily_quota)
        self.quota_day = self._today()
        self.stats = GateStats()

    def _today(self) -> int:
        return int(self.settings.wall_clock() // 86_400)

    def _roll_quota(self) -> None:
        # The daily allowance starts afresh at midnight (the twin's portal runs on UTC).
        today = self._today()
        if today != self.quota_day:
            self.quota = DailyQuota(limit=self.settings.daily_quota)
            self.quota_day = today

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.settings.access_token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    def admit(self) -> str | None:
        """The policy that refuses this call, or None after counting it against both limits."""
        self._roll_quota()
        if self.quota.used >= self.quota.limit:
            return DAILY_POLICY
        if self.limiter.check() > 0:
            return BURST_POLICY
        return None if self.quota.take() else DAILY_POLICY

    def headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.limiter.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.limiter.remaining()),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.settings.burst_window_s * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.quota.limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.quota.limit - self.quota.used, 0)),
        }

    def throttled(self, policy: str, correlation_id: str) -> JSONResponse:
        self.stats.rate_limited[policy] += 1
        body = {
            "status": "error",
            "message": _MESSAGES[policy],
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id,
            "policyName": policy,
            "groupName": f"privateapp:{self.settings.portal_id}",
            "requestId": str(uuid.uuid4()),
        }
        return JSONResponse(body, status_code=429)


Next = Callable[[Request], Awaitable[Response]]


def install_gate(app: FastAPI, gate: Gate) -> None:
    async def gatekeeper(request: Request, call_next: Next) -> Response:
        correlation_id = correlation_id_of(request)
        if not request.url.path.startswith("/crm/"):
            return await call_next(request)
        gate.stats.requests += 1
        if not gate.authorized(request):
            gate.stats.unauthorized += 1
            gate.stats.by_status[401] += 1
            return error_response(request, unauthorized())
        policy = gate.admit()
        response = gate.throttled(policy, correlation_id) if policy else await call_next(request)
        gate.stats.by_status[response.status_code] += 1
        response.headers.update(gate.headers())
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    app.middleware("http")(gatekeeper)
