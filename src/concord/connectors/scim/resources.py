"""The SCIM 2.0 connector (RFC 7643/7644): a customer's admin Users and Groups, keyed by `externalId`.

Exactly-once creates without an idempotency header: SCIM has none, so `create` stores the idempotency key in
`externalId` (unless the caller gave one), looks it up first, and after any failure that may hide a success
looks it up again before repeating the POST. A 409 `uniqueness` on a POST is resolved the same way. Users
are protected twice, since `userName` is unique per provider (RFC 7643 §4.1.1): a replayed /Bulk of user
POSTs cannot duplicate anyone, so `create_many` sends Users through /Bulk. Groups have no unique attribute,
so they are created one at a time with those lookups.

Change capture: with a provider that filters and sorts on `meta.lastModified` (probed by `discover`), pages
of `meta.lastModified ge <last seen>` sorted ascending; the cursor keeps the ids already delivered for that
instant. Without it, `cursor_field` is None and `changes_since` is a full listing in `startIndex` pages whose
last page returns a None cursor, so the next poll lists everything again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from concord.connectors.base import (
    Capabilities,
    ChangePage,
    Conflict,
    ConnectorError,
    DataRejected,
    ExternalRecord,
    NotFound,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.clock import Clock
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.http import CallRecorder
from concord.connectors.scim.auth import ScimAuth, TokenRefresher
from concord.connectors.scim.client import (
    JsonDict,
    ScimClient,
    bulk_error,
    equality_filter,
    filter_literal,
    patch_body,
    record_of,
    writable,
)
from concord.connectors.scim.config import SYSTEM, ScimConfig, ScimFeatures
from concord.connectors.scim.objects import (
    EXTERNAL_ID,
    GROUPS,
    LAST_MODIFIED,
    OBJECTS,
    USERS,
    BulkItemResult,
    bulk_creates,
    bulk_patches,
    failed_item,
    listing_page,
    listing_start,
    location_id,
    members_of,
    merged_resource,
    modified_page,
    modified_params,
    new_resource,
    resource_path,
)


class ScimConnector:
    """The Connector protocol over one SCIM service provider; see the module docstring."""

    name = SYSTEM

    def __init__(
        self,
        config: ScimConfig,
        features: ScimFeatures | None = None,
        *,
        refresher: TokenRefresher | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.client = ScimClient(config, ScimAuth(config, refresher), clock=clock, transport=transport,
                                 governor=governor, recorder=recorder, rng=rng)
        self.use_features(features or ScimFeatures())

    def discover(self) -> ScimConnector:
        """Use what the provider's `/ServiceProviderConfig` announces (and the lastModified probe finds)."""
        self.use_features(self.client.discover())
        return self

    def use_features(self, features: ScimFeatures) -> None:
        """Adopt `features` and declare the capabilities that follow from them."""
        self.features = features
        bulk = min(self.config.max_bulk_operations, features.bulk_max_operations)
        modified = features.last_modified_filter and features.sort
        self.capabilities = Capabilities(
            objects=OBJECTS, bulk_batch_size=max(bulk, 1), upsert_by_external_id=True, idempotency_header=None,
            webhooks=False, cursor_field=LAST_MODIFIED if modified else None, rate_limit=self.config.rate_limit,
            # xsd:dateTime fixes no precision and providers commonly stamp to the second; meta.version (the
            # ETag) still tells two changes apart where the provider gives one.
            change_time_resolution_s=1.0,
        )

    # -- Connector protocol -----------------------------------------------------------------------------
    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        """Resources matching every criterion (`attr eq value`, joined with `and`)."""
        self._check(obj)
        if not criteria:
            raise DataRejected(SYSTEM, "a search needs at least one criterion", code="invalidFilter")
        return self._list(obj, {"filter": equality_filter(criteria)}, limit)

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._check(obj)
        try:
            return record_of(obj, self.client.call("GET", resource_path(obj, record_id), f"{obj}.get"))
        except NotFound:
            return None

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        """Create once per key: the key becomes `externalId` when the caller gave none."""
        self._check(obj)
        external_id = str(fields.get(EXTERNAL_ID) or idempotency_key)
        existing = self._lookup(obj, external_id, once=False)
        if existing is not None:
            return existing
        record, _ = self._create_attempts(obj, new_resource(obj, fields, external_id), external_id)
        return record

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        """PATCH `replace` of the given attributes when the provider supports PATCH, else GET + merge + PUT."""
        self._check(obj)
        path = resource_path(obj, record_id)
        if not writable(fields):
            body: JsonDict = {}
        elif self.features.patch:
            operations = [{"op": "replace", "value": writable(fields)}]
            body = self.client.call("PATCH", path, f"{obj}.patch", body=patch_body(operations))
        else:
            body = self.client.caller.call(self.client.key, f"{obj}.replace", lambda: self._replace(obj, path, fields))
        if body:
            return record_of(obj, body)
        found = self.read(obj, record_id)  # 204 No Content: the provider did not echo the resource
        if found is None:
            raise NotFound(SYSTEM, f"{obj} {record_id!r} vanished after the update")
        return found

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._check(obj)
        if external_id_field != EXTERNAL_ID:
            raise DataRejected(SYSTEM, f"{obj} upsert by externalId only, not {external_id_field!r}",
                               field=external_id_field, code="unsupported_external_id")
        rest = {k: v for k, v in fields.items() if k != EXTERNAL_ID}
        found = self._lookup(obj, external_id, once=False)
        if found is None:
            return self.create(obj, {**rest, EXTERNAL_ID: external_id}, idempotency_key=external_id)
        return self.update(obj, found.id, rest) if writable(rest) else found

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        self._check(obj)
        if self.capabilities.cursor_field == LAST_MODIFIED:
            return self._modified_since(obj, cursor)
        return self._full_listing(obj, cursor)

    def rate_keys(self) -> list[GovernedKey]:
        """`RateGoverned`: the bucket this connector's calls spend, for headroom metrics and charts."""
        return [GovernedKey(self.client.governor, self.client.key)]

    def close(self) -> None:
        self.client.close()

    # -- bulk and membership ----------------------------------------------------------------------------
    def create_many(self, obj: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        """Create (idempotency_key, fields) pairs once each: Users through /Bulk when the provider has it."""
        self._check(obj)
        prepared = [(str(f.get(EXTERNAL_ID) or key), f) for key, f in items]
        if obj != USERS or self.features.bulk_max_operations == 0:
            return [self._create_one(obj, ext, fields) for ext, fields in prepared]
        size = self.capabilities.bulk_batch_size
        results: list[BulkItemResult] = []
        for start in range(0, len(prepared), size):
            results.extend(self._bulk_create(obj, prepared[start : start + size]))
        return results

    def upsert_many(self, obj: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        """Upsert (externalId, fields) pairs: lookups, then `create_many` for the new ones and PATCHes
        (through /Bulk when available) for the ones that exist."""
        self._check(obj)
        results: dict[int, BulkItemResult] = {}
        updates: list[tuple[int, str, str, dict[str, Any]]] = []
        new: list[int] = []
        for index, (ext, fields) in enumerate(items):
            found = self._lookup(obj, ext, once=False)
            if found is None:
                new.append(index)
            else:
                updates.append((index, ext, found.id, fields))
        created = self.create_many(obj, [(items[i][0], {**items[i][1], EXTERNAL_ID: items[i][0]}) for i in new])
        for index, result in zip(new, created, strict=True):
            results[index] = result
            if result.action == "existing" and result.id:  # appeared since the lookup: update it too
                updates.append((index, result.external_id, result.id, items[index][1]))
        results.update(self._patch_many(obj, updates))
        return [results[i] for i in range(len(items))]

    def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        """Add members to a group; adding a present member changes nothing (safe to repeat)."""
        if self.features.patch:
            value = [{"value": member} for member in member_ids]
            operations = [{"op": "add", "path": "members", "value": value}]
            self.client.call("PATCH", resource_path(GROUPS, group_id), "Groups.members", body=patch_body(operations))
            return
        self._set_members(group_id, lambda current: [*current, *(m for m in member_ids if m not in current)])

    def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        if self.features.patch:
            operations = [{"op": "remove", "path": f"members[value eq {filter_literal(m)}]"} for m in member_ids]
            path = resource_path(GROUPS, group_id)
            try:
                self.client.call("PATCH", path, "Groups.members", body=patch_body(operations))
            except DataRejected as error:
                if error.code != "noTarget":  # already gone: a repeated removal is done, not failed
                    raise
                if len(member_ids) > 1:  # one absent member voids the whole PATCH: remove the others singly
                    for member in member_ids:
                        self.remove_members(group_id, [member])
            return
        self._set_members(group_id, lambda current: [m for m in current if m not in member_ids])

    # -- internals --------------------------------------------------------------------------------------
    def _check(self, obj: str) -> None:
        if obj not in OBJECTS:
            raise DataRejected(SYSTEM, f"object {obj!r} is not supported (only {OBJECTS})", code="unknown_object")

    def _lookup(self, obj: str, external_id: str, *, once: bool) -> ExternalRecord | None:
        params: dict[str, str | int] = {"filter": equality_filter({EXTERNAL_ID: external_id}), "count": 2}
        fetch = self.client.send if once else self.client.call
        found = fetch("GET", f"/{obj}", f"{obj}.lookup", params=params).get("Resources") or []
        if len(found) > 1:
            raise Conflict(SYSTEM, f"{len(found)} {obj} share externalId {external_id!r}")
        return record_of(obj, found[0]) if found else None

    def _create_attempts(self, obj: str, payload: JsonDict, external_id: str) -> tuple[ExternalRecord, bool]:
        """POST under the retry policy; before repeating a POST whose outcome is unknown, look it up.
        Returns the record and whether it already existed before this call."""
        suspect = False

        def attempt() -> tuple[ExternalRecord, bool]:
            nonlocal suspect
            if suspect and (found := self._lookup(obj, external_id, once=True)) is not None:
                return found, False
            try:
                return record_of(obj, self.client.send("POST", f"/{obj}", f"{obj}.create", body=payload)), False
            except Conflict:
                if (found := self._lookup(obj, external_id, once=True)) is None:
                    raise
                return found, not suspect
            except RetryableError as error:
                suspect = suspect or not isinstance(error, RateLimited)  # a 429 was refused unprocessed
                raise

        return self.client.caller.call(self.client.key, f"{obj}.create", attempt)

    def _create_one(self, obj: str, external_id: str, fields: Mapping[str, Any]) -> BulkItemResult:
        try:
            existing = self._lookup(obj, external_id, once=False)
            if existing is not None:
                return BulkItemResult(external_id=external_id, id=existing.id, action="existing")
            record, existed = self._create_attempts(obj, new_resource(obj, fields, external_id), external_id)
        except (DataRejected, Conflict) as error:
            return failed_item(external_id, error)
        return BulkItemResult(external_id=external_id, id=record.id, action="existing" if existed else "created")

    def _bulk_create(self, obj: str, chunk: list[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        # Replaying this request (after a lost answer) cannot duplicate a user: userName is unique, so an
        # operation that already took effect comes back 409 and is then found by its externalId.
        answers = self.client.bulk(bulk_creates(obj, chunk))
        return [self._created_or_found(obj, ext, answers.get(f"item{i}", {})) for i, (ext, _) in enumerate(chunk)]

    def _created_or_found(self, obj: str, external_id: str, answer: Mapping[str, Any]) -> BulkItemResult:
        error = bulk_error(answer, f"POST /{obj}")
        new_id = location_id(answer)
        if error is None and new_id is not None:
            return BulkItemResult(external_id=external_id, id=new_id, action="created")
        found = self._lookup(obj, external_id, once=False) if error is None or isinstance(error, Conflict) else None
        if found is not None:
            return BulkItemResult(external_id=external_id, id=found.id, action="existing")
        return failed_item(external_id, error or ConnectorError(SYSTEM, f"POST /{obj}: bulk answer without location"))

    def _patch_many(self, obj: str, updates: list[tuple[int, str, str, dict[str, Any]]]) -> dict[int, BulkItemResult]:
        done: dict[int, BulkItemResult] = {}
        if not (self.features.patch and self.features.bulk_max_operations):
            for index, ext, record_id, fields in updates:
                try:
                    record = self.update(obj, record_id, fields)
                except (DataRejected, Conflict, NotFound) as error:
                    done[index] = failed_item(ext, error)
                else:
                    done[index] = BulkItemResult(external_id=ext, id=record.id, action="updated")
            return done
        size = self.capabilities.bulk_batch_size
        for start in range(0, len(updates), size):
            chunk = updates[start : start + size]
            answers = self.client.bulk(bulk_patches(obj, chunk))
            for index, ext, rid, _ in chunk:
                refused = bulk_error(answers.get(f"item{index}", {}), f"PATCH /{obj}")
                updated = BulkItemResult(external_id=ext, id=rid, action="updated")
                done[index] = failed_item(ext, refused) if refused else updated
        return done

    def _replace(self, obj: str, path: str, fields: Mapping[str, Any]) -> JsonDict:
        """One GET + PUT attempt; repeated whole, so a retry merges into the latest version."""
        current = self.client.send("GET", path, f"{obj}.get")
        merged = merged_resource(obj, current, fields)
        meta = current.get("meta")
        version = meta.get("version") if isinstance(meta, dict) else None
        headers = {"If-Match": str(version)} if version and self.features.etag else None
        return self.client.send("PUT", path, f"{obj}.replace", body=merged, headers=headers)

    def _set_members(self, group_id: str, change: Callable[[list[str]], list[str]]) -> None:
        group = self.read(GROUPS, group_id)
        if group is None:
            raise NotFound(SYSTEM, f"group {group_id!r} does not exist")
        self.update(GROUPS, group_id, {"members": [{"value": m} for m in change(members_of(group))]})

    def _list(self, obj: str, params: Mapping[str, str | int], limit: int) -> list[ExternalRecord]:
        records: list[ExternalRecord] = []
        start = 1
        while len(records) < limit:
            count = min(self.config.page_size, limit - len(records))
            body = self.client.call("GET", f"/{obj}", f"{obj}.search", params={**params, "startIndex": start,
                                                                               "count": count})
            page = body.get("Resources") or []
            records.extend(record_of(obj, resource) for resource in page)
            start += len(page)
            if not page or start > int(body.get("totalResults") or 0):
                break
        return records[:limit]

    def _modified_since(self, obj: str, cursor: str | None) -> ChangePage:
        params = modified_params(cursor, self.config.page_size)  # a malformed cursor fails before any call
        body = self.client.call("GET", f"/{obj}", f"{obj}.changes", params=params)
        return modified_page(obj, body, cursor, self.config.page_size)

    def _full_listing(self, obj: str, cursor: str | None) -> ChangePage:
        start = listing_start(cursor)
        params = {"startIndex": start, "count": self.config.page_size}
        body = self.client.call("GET", f"/{obj}", f"{obj}.changes", params=params)
        return listing_page(obj, body, start)
