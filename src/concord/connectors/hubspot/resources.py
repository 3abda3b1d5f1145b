"""`HubSpotConnector`: companies, contacts and deals through the Connector contract.

Record shape. `ExternalRecord.fields` is HubSpot's own SimplePublicObject, nested, limited to what Concord
reads: `{"id", "properties": {...}, "createdAt", "updatedAt", "archived"}`, so mapping specs address
properties as `properties.<name>` (hubspot_account.yaml). `properties` holds the configured properties
(`HubSpotConfig.properties`), the Concord id and HubSpot's system stamps; values are strings, as HubSpot
sends them. Writes and search criteria take property names either plain (`name`), dotted
(`properties.name`) or nested (`{"properties": {"name": ...}}`, what the mapper emits); `id` means the
record id (`hs_object_id`).

Exactly once. HubSpot has no idempotency header, so every create is a batch upsert on the unique custom
property `concord_id` (`idProperty`): the record's `concord_id` is the caller's own `concord_id` when the
fields carry one (Concord's canonical id), else the idempotency key. Upserts and PATCH updates are
idempotent, so a retried write after a lost response never duplicates and no read-before-create is needed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from concord.connectors.base import (
    Capabilities,
    ChangePage,
    Conflict,
    ConnectorError,
    DataRejected,
    ExternalRecord,
    NotFound,
    RateLimit,
)
from concord.connectors.hubspot.auth import SecretResolver
from concord.connectors.hubspot.client import HubSpotClient, JsonObject, batch_item_errors
from concord.connectors.hubspot.config import OBJECTS, SYSTEM, HubSpotConfig, ObjectSpec
from concord.connectors.hubspot.objects import (
    BatchInput,
    BatchOutcome,
    ChangeCursor,
    changes_body,
    object_path,
    property_key,
    property_name,
    record_stamp,
    search_body,
    to_record,
    upsert_inputs,
    write_properties,
)
from concord.connectors.runtime.clock import Clock
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.http import CallRecorder


class HubSpotConnector:
    """The Connector protocol for HubSpot CRM v3 companies, contacts and deals; see the module docstring."""

    name = SYSTEM

    def __init__(
        self,
        config: HubSpotConfig,
        clock: Clock | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        transport: httpx.BaseTransport | None = None,
        resolver: SecretResolver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.client = HubSpotClient(
            config, clock=clock, governor=governor, recorder=recorder, transport=transport, resolver=resolver,
            rng=rng,
        )
        self.capabilities = Capabilities(
            objects=tuple(OBJECTS), bulk_batch_size=config.batch_size, upsert_by_external_id=True,
            idempotency_header=None, webhooks=False, cursor_field="hs_lastmodifieddate",
            change_time_resolution_s=0.001,  # hs_lastmodifieddate / updatedAt are epoch milliseconds
            rate_limit=RateLimit(
                requests=config.burst_limit, per_seconds=config.burst_window_s, daily_quota=config.daily_quota
            ),
        )

    # -- Connector protocol -----------------------------------------------------------------------------

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        """Records matching every criterion (EQ; a list means IN, None means unset), oldest id first."""
        self._spec(obj)
        body = search_body(criteria, self.config.read_properties(obj), min(limit, self.config.search_page_size))
        found: list[JsonObject] = []
        while len(found) < limit:
            page = self._search(obj, body)
            found.extend(page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            body["after"] = after
        return [self._record(obj, raw) for raw in found[:limit]]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._spec(obj)
        params = {"properties": ",".join(self.config.read_properties(obj))}
        try:
            raw = self.client.call("GET", f"{object_path(obj)}/{quote(record_id, safe='')}", f"{obj}.read",
                                   params=params)
        except NotFound:
            return None
        return self._record(obj, raw)

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        outcome = self.create_many(obj, {idempotency_key: fields})
        return self._single(outcome, idempotency_key)

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._spec(obj)
        body = {"properties": write_properties(fields)}
        path = f"{object_path(obj)}/{quote(record_id, safe='')}"
        raw = self.client.call("PATCH", path, f"{obj}.update", body=body, write=True)
        return self._record(obj, raw)

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        outcome = self.upsert_many(obj, external_id_field, {external_id: fields})
        return self._single(outcome, external_id)

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        """Records created or modified after `cursor`, in (modification stamp, id) order.

        Paging is by key, not by the search API's `after` offset: offsets stop at 10,000 results and shift
        when a record is modified mid-scan. Each call asks for (stamp = T and id > I) or stamp > T, sorted
        by stamp. A full page can end inside a run of equal stamps, so its last stamp is held back for the
        next call; a page made of one stamp only is walked in id order instead, so no run is ever skipped.
        """
        spec = self._spec(obj)
        position = ChangeCursor.decode(cursor)
        body = self._changes_body(spec, position, by_id=False)
        page = self._search(obj, body)
        records = [self._record(obj, raw) for raw in page.get("results") or []]
        more = bool((page.get("paging") or {}).get("next"))
        stamped = [(record_stamp(spec, record), int(record.id)) for record in records]
        if more and stamped and stamped[0][0] == stamped[-1][0]:
            run_start = position if position.ts == stamped[0][0] else ChangeCursor(stamped[0][0], 0)
            page = self._search(obj, self._changes_body(spec, run_start, by_id=True))
            records = [self._record(obj, raw) for raw in page.get("results") or []]
            stamped = [(run_start.ts, int(record.id)) for record in records]
        elif more and stamped:
            last = stamped[-1][0]
            records = [r for r, (ts, _) in zip(records, stamped, strict=True) if ts < last]
            stamped = [pair for pair in stamped if pair[0] < last]
        return ChangePage(records=records, cursor=position.after(stamped).encode(), has_more=more)

    def rate_keys(self) -> list[GovernedKey]:
        """`RateGoverned`: the bucket this connector's calls spend, for headroom metrics and charts."""
        return [GovernedKey(self.client.governor, self.client.key)]

    def close(self) -> None:
        self.client.close()

    # -- bulk ---------------------------------------------------------------------------------------------

    def upsert_many(
        self, obj: str, external_id_field: str, items: Mapping[str, Mapping[str, Any]]
    ) -> BatchOutcome:
        """Create-or-update by a unique property (`/batch/upsert` with `idProperty`), `batch_size` per call.

        A batch HubSpot rejects as a whole for one record's data is split in halves until the offending
        records stand alone, so the others are still written and each error names its record.
        """
        self._spec(obj)
        prop = property_name(external_id_field)
        return self._run_batches(obj, "upsert", upsert_inputs(items, prop), property_key(prop))

    def create_many(self, obj: str, items: Mapping[str, Mapping[str, Any]]) -> BatchOutcome:
        """Bulk `create` of idempotency key → fields, exactly once per key (see the module docstring)."""
        key_prop = self.config.idempotency_property
        by_id: dict[str, dict[str, Any]] = {}
        owner: dict[str, str] = {}
        outcome = BatchOutcome()
        for key, fields in items.items():
            values = write_properties(fields)
            concord_id = str(values.get(key_prop) or key)
            if concord_id in owner:
                outcome.errors[key] = DataRejected(
                    SYSTEM, f"{key_prop} {concord_id!r} is used by two inputs", field=key_prop, code="DUPLICATE_ID"
                )
                continue
            owner[concord_id] = key
            by_id[concord_id] = {**values, key_prop: concord_id}
        written = self.upsert_many(obj, key_prop, by_id)
        outcome.records.update({owner[cid]: record for cid, record in written.records.items()})
        outcome.errors.update({owner[cid]: error for cid, error in written.errors.items()})
        return outcome

    def update_many(self, obj: str, items: Mapping[str, Mapping[str, Any]]) -> BatchOutcome:
        """PATCH semantics for record id → fields (`/batch/update`); unknown ids come back as `NotFound`."""
        self._spec(obj)
        inputs = [BatchInput(rid, {"id": rid, "properties": write_properties(f)}) for rid, f in items.items()]
        return self._run_batches(obj, "update", inputs, lambda raw: str(raw.get("id")))

    def _run_batches(
        self, obj: str, verb: str, inputs: list[BatchInput], key_of: Callable[[JsonObject], str | None]
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        size = self.config.batch_size
        for start in range(0, len(inputs), size):
            self._send_batch(obj, verb, inputs[start : start + size], key_of, outcome)
        return outcome

    def _send_batch(
        self, obj: str, verb: str, chunk: list[BatchInput], key_of: Callable[[JsonObject], str | None],
        outcome: BatchOutcome,
    ) -> None:
        try:
            body = self.client.call("POST", f"{object_path(obj)}/batch/{verb}", f"{obj}.batch.{verb}",
                                    body={"inputs": [item.payload for item in chunk]}, write=True)
        except (DataRejected, Conflict) as error:
            names_a_record = isinstance(error, Conflict) or error.field is not None
            if len(chunk) > 1 and names_a_record:
                middle = len(chunk) // 2
                self._send_batch(obj, verb, chunk[:middle], key_of, outcome)
                self._send_batch(obj, verb, chunk[middle:], key_of, outcome)
            else:
                outcome.errors.update({item.key: error for item in chunk})
            return
        self._collect(obj, chunk, body, key_of, outcome)

    def _collect(
        self, obj: str, chunk: list[BatchInput], body: JsonObject, key_of: Callable[[JsonObject], str | None],
        outcome: BatchOutcome,
    ) -> None:
        """Match results to inputs; a 207 Multi-Status lists the failed ones under `errors`."""
        results: dict[str, JsonObject] = {}
        for raw in body.get("results") or []:
            key = key_of(raw)
            if key is not None:
                results[key] = raw
                results.setdefault(key.casefold(), raw)  # HubSpot lower-cases e-mail upsert keys
        failures = batch_item_errors(body, [item.key for item in chunk])
        for item in chunk:
            raw = results.get(item.key) or results.get(item.key.casefold())
            if raw is not None:
                outcome.records[item.key] = self._record(obj, raw)
            else:
                outcome.errors[item.key] = failures.get(item.key) or ConnectorError(
                    SYSTEM, f"{obj} batch answer has no result for input {item.key!r}"
                )

    # -- helpers ------------------------------------------------------------------------------------------

    def _spec(self, obj: str) -> ObjectSpec:
        spec = OBJECTS.get(obj)
        if spec is None:
            raise DataRejected(SYSTEM, f"unsupported object {obj!r}", field="object", code="UNSUPPORTED_OBJECT")
        return spec

    def _search(self, obj: str, body: JsonObject) -> JsonObject:
        return self.client.call("POST", f"{object_path(obj)}/search", f"{obj}.search", body=body)

    def _changes_body(self, spec: ObjectSpec, position: ChangeCursor, by_id: bool) -> JsonObject:
        return changes_body(spec, position, by_id, self.config.read_properties(spec.name),
                            self.config.search_page_size)

    def _record(self, obj: str, raw: Mapping[str, Any]) -> ExternalRecord:
        return to_record(obj, raw, self.config.read_properties(obj))

    @staticmethod
    def _single(outcome: BatchOutcome, key: str) -> ExternalRecord:
        if key in outcome.errors:
            raise outcome.errors[key]
        return outcome.records[key]

