"""Conformance target: Zendesk organizations through the connector, against a fresh Support twin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from concord.connectors.base import Connector
from concord.connectors.zendesk import ZendeskConnector
from concord.sandbox.zendesk import ZendeskTwinSettings
from tests.conformance.target import ConformanceTarget
from tests.connectors.zendesk.support import running_twin, token_config

_RUN = uuid.uuid4().hex[:8]


@contextmanager
def _start() -> Iterator[Connector]:
    # The suite reads its own writes back through changes_since at once; Zendesk hides the last minute from
    # incremental exports, so the twin does not here (the connector's handling of it is tested on its own).
    with running_twin(ZendeskTwinSettings(incremental_min_age_s=0)) as twin:
        connector = ZendeskConnector(token_config(twin.url))
        try:
            yield connector
        finally:
            connector.close()


def _valid(n: int) -> dict[str, Any]:
    return {"name": f"Conformance Org {n} {_RUN}", "external_id": f"conf-org-{n}-{_RUN}"}


TARGETS = [
    ConformanceTarget(
        name="zendesk-organizations",
        start=_start,
        obj="organizations",
        valid=_valid,
        update={"notes": "updated by the conformance suite"},
        invalid={"name": ""},
        invalid_field="name",
        search=lambda payload: {"external_id": payload["external_id"]},
        external_id_field="external_id",
    )
]
