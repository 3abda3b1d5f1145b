"""Raw ASGI plumbing of the proxy: reading the request, forwarding it upstream, answering the client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from starlette.types import Receive, Scope, Send

from concord.sandbox.faultproxy.plan import WRITE_METHODS

# RFC 9110 §7.6.1 connection-specific fields, plus the framing headers httpx recomputes on each hop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
    }
)


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    query: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


async def read_request(scope: Scope, receive: Receive) -> Incoming:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
    return Incoming(
        method=str(scope["method"]).upper(),
        path=str(scope["path"]),
        query=bytes(scope.get("query_string", b"")),
        headers=headers,
        body=b"".join(chunks),
    )


async def client_hung_up(receive: Receive, within_s: float) -> bool:
    """Wait up to `within_s` for the client to disconnect; True if it did."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), timeout=within_s)
    except TimeoutError:
        return False
    return True


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
    raw = _encode(headers)
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: object, headers: Iterable[tuple[str, str]] = ()
) -> None:
    body = json.dumps(payload).encode()
    await send_bytes(send, status, body, [("content-type", "application/json"), *headers])


async def relay(send: Send, response: httpx.Response) -> None:
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
    await send_bytes(send, response.status_code, response.content, headers)


async def cut_connection(send: Send) -> None:
    """Promise a body and never send it: the server closes the socket mid-response.

    ASGI has no way to drop a connection before the status line, so the client sees a 502 status line and
    then EOF; httpx raises RemoteProtocolError before handing the response over. Uvicorn logs one
    'returned without completing response' error per cut.
    """
    headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
    await send({"type": "http.response.start", "status": 502, "headers": headers})


class Upstream:
    """The system behind the proxy. The client is created on first use, inside the server's event loop."""

    def __init__(self, base_url: str, timeout_s: float, preserve_host: bool) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._preserve_host = preserve_host
        self._client: httpx.AsyncClient | None = None

    async def forward(self, request: Incoming) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        url = self.base_url + request.path
        if request.query:
            url += "?" + request.query.decode("latin-1")
        headers = [
            (k, v)
            for k, v in request.headers
            if k.lower() not in HOP_BY_HOP and (self._preserve_host or k.lower() != "host")
        ]
        return await self._client.request(request.method, url, headers=headers, content=request.body)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
