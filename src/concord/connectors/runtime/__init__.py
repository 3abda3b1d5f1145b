"""The resilience runtime every connector shares: rate governor, retries, circuit breakers, exactly-once
writes, an instrumented HTTP layer and secret redaction. Pure logic; time comes from an injected `Clock`."""

from concord.connectors.runtime.breaker import (
    BreakerRegistry,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
)
from concord.connectors.runtime.caller import BoundCall, ResilientCaller, call_with_resilience
from concord.connectors.runtime.clock import Clock, ManualClock, SystemClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport
from concord.connectors.runtime.governed import GovernedKey, RateGoverned, governed_keys
from concord.connectors.runtime.governor import GovernorSettings, Headroom, RateGovernor, RateKey
from concord.connectors.runtime.governor_store import BucketState, GovernorStore, InMemoryGovernorStore
from concord.connectors.runtime.http import (
    CORRELATION_HEADER,
    CallRecorder,
    CallSample,
    HttpSettings,
    InMemoryCallRecorder,
    InstrumentedTransport,
    build_http_client,
    correlation_scope,
)
from concord.connectors.runtime.quota_headers import HeaderRule, QuotaObservation, parse_quota_headers
from concord.connectors.runtime.redact import redact, redact_body, redact_headers, redact_text, redact_url
from concord.connectors.runtime.retry import Retrier, RetryEvent, RetryPolicy
from concord.connectors.runtime.writes import ExactlyOnceWriter, UnverifiableWrite, WriteOutcome

__all__ = [
    "CORRELATION_HEADER",
    "BoundCall",
    "BreakerRegistry",
    "BreakerSettings",
    "BreakerState",
    "BucketState",
    "CallRecorder",
    "CallSample",
    "CircuitBreaker",
    "CircuitOpen",
    "Clock",
    "ExactlyOnceWriter",
    "GovernedKey",
    "GovernorSettings",
    "GovernorStore",
    "HeaderRule",
    "Headroom",
    "HttpSettings",
    "InMemoryCallRecorder",
    "InMemoryGovernorStore",
    "InstrumentedTransport",
    "ManualClock",
    "QuotaObservation",
    "RateGoverned",
    "RateGovernor",
    "RateKey",
    "ResilientCaller",
    "Retrier",
    "RetryEvent",
    "RetryPolicy",
    "SystemClock",
    "UnverifiableWrite",
    "WriteOutcome",
    "build_http_client",
    "call_with_resilience",
    "correlation_scope",
    "error_for_response",
    "error_for_transport",
    "governed_keys",
    "parse_quota_headers",
    "redact",
    "redact_body",
    "redact_headers",
    "redact_text",
    "redact_url",
]
