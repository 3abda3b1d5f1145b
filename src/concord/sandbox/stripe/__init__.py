"""A sandbox twin of the Stripe API subset Concord uses: customers, products/prices, subscriptions,
invoices, events and signed webhooks, with Stripe's auth, errors, paging, idempotency and rate limits."""

from concord.sandbox.stripe.app import create_app
from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.stripe.webhooks import WebhookSignatureError, sign_payload, verify_signature

__all__ = ["StripeTwinSettings", "WebhookSignatureError", "create_app", "sign_payload", "verify_signature"]
