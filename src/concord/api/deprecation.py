"""API versioning policy: changes within `/api/v1` are backward compatible; what is going away is announced.

A deprecated route or request field keeps working until its sunset date, and every answer that used it carries
    Deprecation: @<unix seconds>          (RFC 9745: since when)
    Sunset: <HTTP-date>                   (RFC 8594: when it may stop answering)
    Link: <successor>; rel="successor-version"
Every deprecation is registered in `DEPRECATIONS` and listed in CHANGELOG.md (a test holds the two together);
OpenAPI marks deprecated routes `deprecated: true`. See docs/decisions/070.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from urllib.parse import quote

from fastapi import Request, Response
from pydantic import BaseModel


@dataclass(frozen=True)
class Deprecation:
    what: str  # "GET /api/v1/customers/{customer_id}" or "POST /api/v1/... field name"
    since: date
    sunset: date
    successor: str
    note: str = ""

    def headers(self) -> dict[str, str]:
        since = datetime(self.since.year, self.since.month, self.since.day, tzinfo=UTC)
        sunset = datetime(self.sunset.year, self.sunset.month, self.sunset.day, tzinfo=UTC)
        return {"Deprecation": f"@{int(since.timestamp())}", "Sunset": format_datetime(sunset, usegmt=True),
                "Link": f'<{self.successor}>; rel="successor-version"'}


CUSTOMER_BY_ID = Deprecation(
    what="GET /api/v1/customers/{customer_id}", since=date(2026, 12, 6), sunset=date(2027, 6, 30),
    successor="/api/v1/records/{customer_id}",
    note="an alias of the golden-record route limited to accounts; read /api/v1/records/{id} (entity: account)")

# Nobody types in who they are: a steward decision is recorded under the calling key's name.
STATED_ACTOR = Deprecation(
    what="POST /api/v1/approvals/{approval_id}/approve|reject field actor", since=date(2026, 12, 6),
    sunset=date(2027, 6, 30), successor="/api/v1/approvals/{approval_id}",
    note="ignored: the decider is the calling API key's name; send only `reason`")

DEPRECATIONS: tuple[Deprecation, ...] = (CUSTOMER_BY_ID, STATED_ACTOR)


def announce(response: Response, deprecation: Deprecation, **path: str) -> None:
    """Set the headers on a response; `path` fills the successor's placeholders."""
    headers = deprecation.headers()
    if path:  # percent-encoded: a header carries latin-1 only, a path parameter may hold anything
        headers["Link"] = headers["Link"].format(**{k: quote(v, safe="") for k, v in path.items()})
    response.headers.update(headers)


def deprecated_route(deprecation: Deprecation) -> Callable[..., None]:
    """A route dependency announcing the route's deprecation on every answer it gives."""

    def dependency(request: Request, response: Response) -> None:
        announce(response, deprecation, **{k: str(v) for k, v in request.path_params.items()})

    return dependency


def announce_fields(response: Response, body: BaseModel, fields: Mapping[str, Deprecation]) -> None:
    """Announce the deprecated fields a request body actually used (a caller not using them hears nothing)."""
    for name in sorted(set(fields) & body.model_fields_set):
        announce(response, fields[name])
