"""Conformance target: SCIM Users through the connector, against a fresh, real scim2-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from concord.connectors.base import Connector
from concord.connectors.scim import ScimConfig, ScimConnector
from tests.conformance.target import ConformanceTarget
from tests.connectors.scim.server import TOKEN, running_scim_server

_RUN = uuid.uuid4().hex[:8]


@contextmanager
def _start() -> Iterator[Connector]:
    with running_scim_server() as server:
        connector = ScimConnector(ScimConfig(base_url=server.url, bearer_token=SecretStr(TOKEN)))
        try:
            yield connector.discover()
        finally:
            connector.close()


def _valid(n: int) -> dict[str, Any]:
    return {"userName": f"admin{n}-{_RUN}@customer.test", "externalId": f"conf-user-{n}-{_RUN}", "active": True}


TARGETS = [
    ConformanceTarget(
        name="scim-users",
        start=_start,
        obj="Users",
        valid=_valid,
        update={"displayName": "Updated by the conformance suite", "title": "Administrator"},
        invalid={"displayName": "Nobody", "active": True},  # no userName, which RFC 7643 §4.1.1 requires
        invalid_field="userName",
        search=lambda payload: {"userName": payload["userName"]},
        external_id_field="externalId",
    )
]
