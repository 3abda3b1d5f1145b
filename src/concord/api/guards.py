"""Input guards that hold for every route, before routing: no NUL character in the path, the query or a JSON body.

PostgreSQL refuses NUL in text (a 500 deep in a query, found by schemathesis on /api/v1/audit; in a change's
free text a 500 after part of a batch was applied), and no name, id, filter or value of Concord can contain one,
so a request carrying one is refused up front with a 422 naming the parameter or the JSON path of the field — on
every route, also routes added later. (Integers are bounded per parameter to the database's 64 bits instead:
`INT64_MAX`, checked for every route by tests/security/test_input_bounds.py.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from concord.api.problems import problem_response
from concord.jsonguard import nul_json_path

INT64_MAX = 2**63 - 1  # the largest BIGINT: ids, sequence numbers and cursors above it cannot exist
# The JSON body is read whole before routing, so it needs a ceiling of its own; the largest body Concord takes
# (a batch of 5,000 changes) is a few MB. Routes with a tighter limit (webhooks: 1 MiB) still apply theirs.
MAX_JSON_BODY_BYTES = 32 * 1024 * 1024
_BODILESS = {"GET", "HEAD", "OPTIONS"}


def nul_field(path: str, query: bytes) -> str | None:
    """The name of the first parameter carrying a NUL character ('path' for the path), or None."""
    if "\x00" in path:
        return "path"
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                                 errors="replace"):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def json_body_expected(scope: Scope) -> bool:
    """Whether the request's body is parsed as JSON by FastAPI: JSON or `+json` media types, or none at all
    (FastAPI then tries JSON too). Forms and other media types are left alone."""
    if scope.get("method", "GET") in _BODILESS:
        return False
    headers = dict(scope.get("headers") or [])
    media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return media in (b"", b"application/json") or media.endswith(b"+json")


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when the client went away first; BodyTooLarge past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body to the app, then goes on with the client's messages."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class NulGuard:
    """ASGI middleware answering 422 problem+json to any HTTP request with a NUL in its path, its query or
    (for JSON bodies) any string or key of its body, naming the parameter or the field's JSON path."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = scope.get("path", "").replace("\x00", "")
        field = nul_field(scope.get("path", ""), scope.get("query_string", b""))
        if field is None and json_body_expected(scope):
            try:
                body = await read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                response = problem_response(413, "Payload too large",
                                            f"the JSON body exceeds {self.max_body_bytes} bytes", where)
                await response(scope, receive, send)
                return
            if body is None:  # the client disconnected while sending: nobody to answer
                return
            field = nul_json_path(body)
            receive = replaying(body, receive)
        if field is not None:
            response = problem_response(422, "Invalid request", f"{field}: NUL characters are not allowed", where,
                                        field=field)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
