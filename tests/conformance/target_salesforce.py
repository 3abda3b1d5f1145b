"""Salesforce Accounts against the Salesforce twin, for the shared conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from concord.connectors.base import Connector
from concord.sandbox.salesforce import SalesforceTwinSettings
from concord.sandbox.salesforce.testing import running_twin
from tests.conformance.target import ConformanceTarget
from tests.connectors.salesforce.support import connector_for


@contextmanager
def _start() -> Iterator[Connector]:
    # Small query pages and change pages, so the paging test walks nextRecordsUrl and several cursors.
    with running_twin(SalesforceTwinSettings(query_batch_size=2)) as twin:
        connector = connector_for(twin.base_url, changes_page_size=3)
        try:
            yield connector
        finally:
            connector.close()


def _valid(index: int) -> dict[str, Any]:
    return {"Name": f"Conformance Account {index}", "BillingCity": "Hamburg", "Concord_Id__c": f"conf-{index:06d}"}


TARGETS: list[ConformanceTarget] = [
    ConformanceTarget(
        name="salesforce-account",
        start=_start,
        obj="Account",
        valid=_valid,
        update={"Phone": "+49 40 5550100", "Industry": "Technology"},
        # No Name: Salesforce answers 400 REQUIRED_FIELD_MISSING with fields ["Name"].
        invalid={"BillingCity": "Nowhere"},
        invalid_field="Name",
        search=lambda payload: {"Concord_Id__c": payload["Concord_Id__c"]},
        external_id_field="Concord_Id__c",
    ),
    ConformanceTarget(
        name="salesforce-account-by-name",
        start=_start,
        obj="Account",
        valid=_valid,
        update={"Name": "Renamed Account AG"},
        # A field the org does not have: 400 INVALID_FIELD "No such column 'Nickname' on sobject of type Account".
        invalid={"Name": "Bad Field AG", "Nickname": "nope"},
        invalid_field="Nickname",
        search=lambda payload: {"Name": payload["Name"]},
        external_id_field="Concord_Id__c",
    ),
]
