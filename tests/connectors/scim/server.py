"""The real `scim2-server` on a loopback port, built the way its `scim2-server` command builds it.

The command (scim2_server.testserver.cli) serves a `BearerTokenApplication` over an `InMemoryStorage` with
the RFC 7643 schemas and resource types, from wsgiref's threading server; so do we, on a free port, in a
thread, and stop it when the block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config

TOKEN = "scim-test-token"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@dataclass
class ScimServer:
    url: str  # the SCIM root, ending in /v2
    storage: InMemoryStorage

    @property
    def origin(self) -> str:
        """Scheme, host and port: what a proxy in front of the server forwards to."""
        return self.url.removesuffix("/v2")

    def count(self, resource_type: str) -> int:
        return sum(1 for r in self.storage.resources if r.meta is not None and r.meta.resource_type == resource_type)


def _provider(with_bearer: bool) -> ScimProvider:
    config = load_default_service_provider_config()
    if with_bearer:
        config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )


@contextmanager
def running_scim_server(tokens: Sequence[str] = (TOKEN,)) -> Iterator[ScimServer]:
    """A fresh, empty provider; with `tokens` it accepts only those bearer tokens, else anyone."""
    provider = _provider(bool(tokens))
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=ScimService(provider), bearer_tokens=tokens)
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ScimServer(f"http://127.0.0.1:{server.server_port}/v2", storage)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
