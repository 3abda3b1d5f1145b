"""Tryton (the real ERP server) as a conformance target: parties."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from concord.connectors.base import Connector
from concord.connectors.tryton import TrytonConnector
from concord.sandbox.tryton import TrytonServer
from tests.conformance.target import ConformanceTarget
from tests.connectors.tryton.support import connector_config, require_trytond, server_settings


@contextmanager
def _start() -> Iterator[Connector]:
    require_trytond()
    with TrytonServer(server_settings()) as server:
        connector = TrytonConnector(connector_config(server))
        try:
            yield connector
        finally:
            connector.close()


def _valid(i: int) -> dict[str, Any]:
    return {"code": f"conf-{i}", "name": f"Conformance {i} SA", "email": f"ap{i}@conformance.example",
            "address.city": "Brussels", "address.country": "BE"}


TARGETS = [ConformanceTarget(
    name="tryton", start=_start, obj="party", valid=_valid, update={"name": "Renamed SA", "phone": "+32 2 555 0101"},
    invalid={"name": "Bad VAT SA", "tax_identifier.type": "eu_vat", "tax_identifier.code": "BE0123456789"},
    invalid_field="tax_identifier.code", search=lambda p: {"code": p["code"]}, external_id_field="code")]
