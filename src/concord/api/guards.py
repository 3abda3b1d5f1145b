"""Input guards that hold for every route, before routing: no NUL character in the path or the query.

PostgreSQL refuses NUL in text (a 500 deep in a query, found by schemathesis on /api/v1/audit), and no name,
id or filter of Concord can contain one, so a request carrying one is refused up front with a 422 naming the
parameter — on every route, also routes added later. (Integers are bounded per parameter to the database's
64 bits instead: `INT64_MAX`, checked for every route by tests/security/test_input_bounds.py.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from concord.api.problems import problem_response

INT64_MAX = 2**63 - 1  # the largest BIGINT: ids, sequence numbers and cursors above it cannot exist


def nul_field(path: str, query: bytes) -> str | None:
    """The name of the first parameter carrying a NUL character ('path' for the path), or None."""
    if "\x00" in path:
        return "path"
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                                 errors="replace"):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


class NulGuard:
    """ASGI middleware answering 422 problem+json to any HTTP request with a NUL in its path or query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = nul_field(scope.get("path", ""), scope.get("query_string", b""))
            if field is not None:
                response = problem_response(422, "Invalid request", f"{field}: NUL characters are not allowed",
                                            scope.get("path", "").replace("\x00", ""), field=field)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
