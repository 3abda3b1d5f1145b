"""Stripe customers against the Stripe twin, for the shared conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from concord.connectors.base import Connector
from tests.conformance.target import ConformanceTarget
from tests.connectors.stripe.support import connector_for, running_twin


@contextmanager
def _start() -> Iterator[Connector]:
    with running_twin() as twin:
        connector = connector_for(twin.url)
        try:
            yield connector
        finally:
            connector.close()


def _valid(index: int) -> dict[str, Any]:
    return {
        "name": f"Conformance Customer {index}",
        "email": f"billing{index}@conformance.example",
        "metadata": {"concord_id": f"acct-{index:06d}"},
    }


TARGETS: list[ConformanceTarget] = [
    ConformanceTarget(
        name="stripe-customer",
        start=_start,
        obj="customer",
        valid=_valid,
        update={"name": "Renamed Customer GmbH", "phone": "+49 30 1234567"},
        # `nickname` is no customer parameter: Stripe answers 400 parameter_unknown with param=nickname.
        invalid={"name": "Bad Customer", "nickname": "nope"},
        invalid_field="nickname",
        search=lambda payload: {"metadata": {"concord_id": payload["metadata"]["concord_id"]}},
    )
]
