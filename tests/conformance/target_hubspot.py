"""HubSpot companies in the shared conformance suite, against the HubSpot twin on real time.

The connector's records are HubSpot's nested objects (`{"id", "properties": {...}, ...}`) while payloads
are written with plain property names, so `read_back` compares the sent values with `properties`
(HubSpot hands every value back as a string).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from concord.connectors.base import Connector
from concord.connectors.hubspot.objects import write_properties
from tests.conformance.target import ConformanceTarget
from tests.connectors.hubspot.support import connector_for, running_twin

_RUN = uuid.uuid4().hex[:8]


@contextmanager
def _start() -> Iterator[Connector]:
    with running_twin() as twin:
        connector = connector_for(twin.base_url)
        try:
            yield connector
        finally:
            connector.close()


def _valid(index: int) -> dict[str, Any]:
    return {"name": f"Conformance Co {index}", "concord_id": f"conf-{_RUN}-{index}", "city": "Ghent"}


def _read_back(sent: dict[str, Any], fields: dict[str, Any]) -> None:
    properties = fields["properties"]
    for name, value in write_properties(sent).items():
        assert properties.get(name) == str(value), f"{name}: sent {value!r}, read {properties.get(name)!r}"


TARGETS = [
    ConformanceTarget(
        name="hubspot-companies",
        start=_start,
        obj="companies",
        valid=_valid,
        update={"name": "Conformance Co (renamed)", "phone": "+32 9 123 45 67"},
        invalid={"name": "Rejected Co", "no_such_property": "x"},
        invalid_field="no_such_property",
        search=lambda payload: {"concord_id": payload["concord_id"]},
        external_id_field="concord_id",
        read_back=_read_back,
    )
]
