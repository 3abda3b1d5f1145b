"""Stripe's error envelope: `{"error": {"type", "code", "message", "param", "doc_url"}}` with the HTTP status.

The official libraries pick the exception class from the status first (401 → AuthenticationError,
402 → CardError, 429 → RateLimitError, 400/404 → InvalidRequestError unless `type` is `idempotency_error`),
so the status matters as much as the body.
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeApiError(Exception):
    """An error the twin answers with, in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code:
            error["code"] = self.code
            # Stripe's doc pages spell codes with dashes: resource_missing → resource-missing.
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}


def missing_param(name: str) -> StripeApiError:
    return StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)


def unknown_param(name: str) -> StripeApiError:
    return StripeApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def invalid_param(name: str, message: str, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, code=code, param=name)


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeApiError:
    """A missing object: 404 when it is the URL's object, 400 when a parameter points at it."""
    label = kind.replace("_", " ")
    return StripeApiError(status, f"No such {label}: '{object_id}'", code="resource_missing", param=param)


def invalid_api_key(key: str) -> StripeApiError:
    return StripeApiError(
        401,
        f"Invalid API Key provided: {mask_key(key)}",
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def missing_api_key() -> StripeApiError:
    return StripeApiError(
        401,
        "You did not provide an API key. You need to provide your API key in the Authorization header, "
        "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        "See https://stripe.com/docs/api#authentication for details, or we can help at "
        "https://support.stripe.com/.",
        headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
    )


def rate_limited() -> StripeApiError:
    # Since API version 2015-09-08 rate limiting is a 429; the body still carries code `rate_limit`.
    return StripeApiError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )


def mask_key(key: str) -> str:
    """Stripe echoes a wrong key with everything but its prefix and last four characters starred."""
    prefix_end = key.find("_", key.find("_") + 1) + 1 if key.count("_") >= 2 else 0
    if len(key) <= prefix_end + 4:
        return "*" * len(key)
    return key[:prefix_end] + "*" * (len(key) - prefix_end - 4) + key[-4:]
