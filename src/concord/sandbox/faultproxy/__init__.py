"""A fault-injecting HTTP proxy for chaos tests: rate limits, 5xx, timeouts, drop-after-write, webhook
duplication and reordering, all drawn from a seeded plan and counted in stats."""

from concord.sandbox.faultproxy.app import FaultProxy, ProxySettings, create_app
from concord.sandbox.faultproxy.plan import Decision, FaultKind, FaultPlan, WebhookPlan, decide
from concord.sandbox.faultproxy.stats import AppliedButFailed, FaultStats, WebhookStats

__all__ = [
    "AppliedButFailed",
    "Decision",
    "FaultKind",
    "FaultPlan",
    "FaultProxy",
    "FaultStats",
    "ProxySettings",
    "WebhookPlan",
    "WebhookStats",
    "create_app",
    "decide",
]
