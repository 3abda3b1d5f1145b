"""Stripe billing connector: customers, subscriptions and invoices over Stripe's form-encoded REST API, plus a
webhook receiver.

Modules: `config` (StripeConfig), `auth` (secret key and pinned Stripe-Version), `client` (form encoding,
idempotency keys, paging, error mapping through the resilience runtime), `resources` (StripeConnector, the
Connector protocol), `webhooks` (signature verification, de-duplication, a FastAPI router).
"""

from concord.connectors.stripe.auth import StripeAuth
from concord.connectors.stripe.client import StripeClient, StripeResponse, build_caller, encode_form
from concord.connectors.stripe.config import API_VERSION, StripeConfig
from concord.connectors.stripe.objects import OBJECTS, record_from_event
from concord.connectors.stripe.resources import Receivables, StripeConnector
from concord.connectors.stripe.webhooks import (
    InMemorySeenStore,
    PayloadError,
    PayloadTooLarge,
    SeenStore,
    SignatureError,
    WebhookError,
    WebhookEvent,
    WebhookReceiver,
    webhook_router,
)

__all__ = [
    "API_VERSION",
    "OBJECTS",
    "InMemorySeenStore",
    "PayloadError",
    "PayloadTooLarge",
    "Receivables",
    "SeenStore",
    "SignatureError",
    "StripeAuth",
    "StripeClient",
    "StripeConfig",
    "StripeConnector",
    "StripeResponse",
    "WebhookError",
    "WebhookEvent",
    "WebhookReceiver",
    "build_caller",
    "encode_form",
    "record_from_event",
    "webhook_router",
]
