"""Structured JSON logs: every line carries correlation id, tenant, customer and step from the context, and
passes through PII masking last, just before rendering — for structlog and plain `logging` lines alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

from concord.observability.pii import mask_event

CONTEXT_KEYS = ("correlation_id", "tenant", "customer", "step")


def mask_pii(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """structlog processor: mask emails, phones, tax ids anywhere, and names (and the rest) by key."""
    return mask_event(event)


def add_trace_ids(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


UNKNOWN_TENANT = "-"


def add_tenant(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Every line names its tenant (issue #8): the bound one, or "-" for work that belongs to no tenant (start-up,
    hub-wide loops) or runs before the caller is known."""
    event.setdefault("tenant", UNKNOWN_TENANT)
    return event


def _shared() -> list[Processor]:
    return [structlog.contextvars.merge_contextvars, add_tenant, structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True), add_trace_ids]


def json_formatter() -> logging.Formatter:
    """The formatter of every handler Concord installs: JSON, exception rendered, PII masked last."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, mask_pii, structlog.processors.JSONRenderer()])


# httpx and httpcore log every request URL at INFO, query string included: vendors that take a key in the URL
# (HubSpot's hapikey, Zendesk tokens) would leak it. Connector calls are logged by concord.connectors.http, masked.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_structlog() -> None:
    """Route structlog through `logging` so one handler (and one masking step) sees every line."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)


def configure_logging(level: str = "info") -> None:
    """For `concord serve`: JSON lines on stderr for the whole process."""
    configure_structlog()
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind correlation_id / tenant / customer / step for every line logged inside the block."""
    tokens = bind_contextvars(**{k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        reset_contextvars(**tokens)


def current_tenant() -> str | None:
    value = get_contextvars().get("tenant")
    return value if isinstance(value, str) else None


def context_fields() -> MutableMapping[str, Any]:
    return {k: v for k, v in get_contextvars().items() if k in CONTEXT_KEYS}
