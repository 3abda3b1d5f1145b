"""Zendesk's error responses, in the shapes the real API sends them."""

from __future__ import annotations

from typing import Any

# {"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]}
FieldErrors = dict[str, list[dict[str, str]]]

RATE_LIMITED_TEXT = "Number of allowed API requests per minute exceeded"


class ZendeskError(Exception):
    """An error response: a JSON object body, or plain text for the API-level errors sent as text/plain."""

    def __init__(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def invalid_endpoint() -> ZendeskError:
    return ZendeskError(404, {"error": "InvalidEndpoint", "description": "Not found"})


def unauthenticated() -> ZendeskError:
    return ZendeskError(401, {"error": "Couldn't authenticate you"}, {"WWW-Authenticate": 'Basic realm="Web Password"'})


def bad_request_text(message: str = "Bad Request") -> ZendeskError:
    # The docs warn that request-level failures (such as an unparseable body) may come back as text/plain.
    return ZendeskError(400, message)


def invalid_pagination(description: str) -> ZendeskError:
    return ZendeskError(400, {"error": "InvalidPaginationParameter", "description": description})


def invalid_value(description: str, status: int = 400) -> ZendeskError:
    return ZendeskError(status, {"error": "InvalidValue", "description": description})


def too_many_values(limit: int) -> ZendeskError:
    return ZendeskError(400, {"error": "TooManyValues", "description": f"Too many values, the maximum is {limit}"})


def record_invalid(details: FieldErrors) -> ZendeskError:
    return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})


def blank(label: str) -> dict[str, str]:
    return {"description": f"{label}: cannot be blank", "error": "BlankValue"}


def taken(label: str, value: str) -> dict[str, str]:
    return {"description": f"{label}: {value} has already been taken", "error": "DuplicateValue"}


def invalid(label: str, value: object) -> dict[str, str]:
    return {"description": f"{label}: {value} is invalid", "error": "InvalidValue"}


def merge(*groups: FieldErrors) -> FieldErrors:
    merged: FieldErrors = {}
    for group in groups:
        for key, entries in group.items():
            merged.setdefault(key, []).extend(entries)
    return merged


def summary(details: FieldErrors) -> tuple[str, str]:
    """The (error, details) pair a bulk job reports for one failed item."""
    entries = [entry for group in details.values() for entry in group]
    code = entries[0]["error"] if entries else "RecordInvalid"
    return code, " ".join(entry["description"] for entry in entries)
