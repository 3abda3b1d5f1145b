"""The twin's portal: CRM records per object type, their property definitions and unique-value indexes.

Writes are validated in full before anything changes, so a batch is applied all-or-nothing the way
HubSpot applies batch create/update/upsert; unique properties (a custom `concord_id`, and contact e-mail)
are indexed so conflicts are found without scanning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from concord.sandbox.hubspot.catalog import (
    MAX_UNIQUE_PROPERTIES,
    OBJECT_TYPES,
    ObjectTypeSpec,
    PropertyDefinition,
    default_definitions,
)
from concord.sandbox.hubspot.errors import (
    HubSpotError,
    PropertyProblem,
    invalid_properties,
    unique_conflict,
    validation_error,
)
from concord.sandbox.hubspot.timefmt import iso_from_ms
from concord.sandbox.hubspot.values import InvalidValue, PropValue, normalize

Changes = dict[str, str | None]


@dataclass
class CrmObject:
    """One record. `values` holds only set properties; system properties are derived on read."""

    id: str
    values: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None


@dataclass
class ObjectTable:
    spec: ObjectTypeSpec
    definitions: dict[str, PropertyDefinition]
    objects: dict[str, CrmObject] = field(default_factory=dict)
    unique_index: dict[str, dict[str, str]] = field(default_factory=dict)
    next_id: int = 1

    def unique_names(self) -> set[str]:
        names = {d.name for d in self.definitions.values() if d.has_unique_value}
        # HubSpot deduplicates contacts by e-mail even though the property is not flagged unique.
        if self.spec.name == "contacts":
            names.add("email")
        return names

    def values_of(self, obj: CrmObject) -> dict[str, str]:
        """Stored values plus the system properties HubSpot computes for every record."""
        full = dict(obj.values)
        full["hs_object_id"] = obj.id
        full.setdefault("createdate", iso_from_ms(obj.created_ms))
        full[self.spec.modified_property] = iso_from_ms(obj.updated_ms)
        return full


class TwinStore:
    """Thread-safe in-memory portal; handlers run on uvicorn's loop while tests read it directly."""

    def __init__(self, portal_id: int, now_ms: Callable[[], int]) -> None:
        self.portal_id = portal_id
        self._now_ms = now_ms
        self._lock = threading.RLock()
        self._tables: dict[str, ObjectTable] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            now = self._now_ms()
            self._tables = {
                name: ObjectTable(spec, {d.name: d for d in default_definitions(spec, now)})
                for name, spec in OBJECT_TYPES.items()
            }

    def table(self, object_type: str) -> ObjectTable:
        return self._tables[object_type]

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                name: {
                    "live": sum(1 for o in t.objects.values() if not o.archived),
                    "archived": sum(1 for o in t.objects.values() if o.archived),
                }
                for name, t in self._tables.items()
            }

    # -- properties -------------------------------------------------------------------------------

    def definitions(self, object_type: str) -> list[PropertyDefinition]:
        with self._lock:
            return list(self.table(object_type).definitions.values())

    def add_definition(self, object_type: str, definition: PropertyDefinition) -> PropertyDefinition:
        with self._lock:
            table = self.table(object_type)
            if definition.name in table.definitions:
                raise HubSpotError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property named '{definition.name}' already exists."
                )
            unique_count = sum(1 for d in table.definitions.values() if d.has_unique_value)
            if definition.has_unique_value and unique_count >= MAX_UNIQUE_PROPERTIES:
                raise validation_error(
                    f"Object type {object_type} already has the maximum of {MAX_UNIQUE_PROPERTIES} "
                    "unique value properties."
                )
            created = definition.model_copy(update={"created_ms": self._now_ms()})
            table.definitions[created.name] = created
            return created

    # -- validation -------------------------------------------------------------------------------

    def _prepare(
        self, table: ObjectTable, raw: Mapping[str, PropValue]
    ) -> tuple[Changes, list[PropertyProblem]]:
        changes: Changes = {}
        problems: list[PropertyProblem] = []
        for name, value in raw.items():
            definition = table.definitions.get(name)
            if definition is None:
                message = f'Property "{name}" does not exist'
                problems.append(PropertyProblem(name, "PROPERTY_DOESNT_EXIST", message))
                continue
            if definition.read_only_value:
                problems.append(PropertyProblem(name, "READ_ONLY_VALUE", f'Property "{name}" is read-only'))
                continue
            try:
                is_email = table.spec.name == "contacts" and name == "email"
                changes[name] = normalize(definition, value, is_email=is_email)
            except InvalidValue as exc:
                problems.append(exc.problem(name))
        return changes, problems

    def _prepare_all(self, table: ObjectTable, inputs: Iterable[Mapping[str, PropValue]]) -> list[Changes]:
        prepared: list[Changes] = []
        problems: list[PropertyProblem] = []
        for raw in inputs:
            changes, found = self._prepare(table, raw)
            prepared.append(changes)
            problems.extend(found)
        if problems:
            raise invalid_properties(problems, self.portal_id)
        return prepared

    def _check_unique(self, table: ObjectTable, writes: list[tuple[str | None, Changes]]) -> None:
        """409 for a unique value held by another record; 400 for one repeated inside the batch."""
        claimed: dict[tuple[str, str], int] = {}
        for position, (obj_id, changes) in enumerate(writes):
            for name in sorted(table.unique_names() & changes.keys()):
                value = changes[name]
                if value is None:
                    continue
                if claimed.setdefault((name, value), position) != position:
                    raise validation_error(f"Duplicate values found in batch input for {name}: [{value}]")
                holder = table.unique_index.get(name, {}).get(value)
                if holder is not None and holder != obj_id:
                    raise unique_conflict(table.spec.label, name, value, holder)

    def _index(self, table: ObjectTable, obj: CrmObject, add: bool) -> None:
        for name in table.unique_names():
            value = obj.values.get(name)
            if value is None:
                continue
            bucket = table.unique_index.setdefault(name, {})
            if add:
                bucket[value] = obj.id
            elif bucket.get(value) == obj.id:
                del bucket[value]

    # -- writes -----------------------------------------------------------------------------------

    def create_many(self, object_type: str, inputs: Sequence[Mapping[str, PropValue]]) -> list[CrmObject]:
        with self._lock:
            table = self.table(object_type)
            prepared = self._prepare_all(table, inputs)
            self._check_unique(table, [(None, changes) for changes in prepared])
            return [self._insert(table, changes) for changes in prepared]

    def _insert(self, table: ObjectTable, changes: Changes) -> CrmObject:
        now = self._now_ms()
        obj_id = str(table.next_id)
        table.next_id += 1
        values = {name: value for name, value in changes.items() if value is not None}
        obj = CrmObject(id=obj_id, values=values, created_ms=now, updated_ms=now)
        table.objects[obj_id] = obj
        self._index(table, obj, add=True)
        return obj

    def update_many(
        self, object_type: str, updates: Sequence[tuple[str, Mapping[str, PropValue]]]
    ) -> list[CrmObject]:
        """Apply property changes to existing live records, all or nothing. Ids must already be resolved."""
        with self._lock:
            table = self.table(object_type)
            prepared = self._prepare_all(table, [raw for _, raw in updates])
            writes: list[tuple[str | None, Changes]] = [
                (obj_id, changes) for (obj_id, _), changes in zip(updates, prepared, strict=True)
            ]
            self._check_unique(table, writes)
            objects = table.objects
            return [self._apply(table, objects[obj_id], changes) for obj_id, changes in writes if obj_id]

    def _apply(self, table: ObjectTable, obj: CrmObject, changes: Changes) -> CrmObject:
        self._index(table, obj, add=False)
        for name, value in changes.items():
            if value is None:
                obj.values.pop(name, None)
            else:
                obj.values[name] = value
        obj.updated_ms = self._now_ms()
        self._index(table, obj, add=True)
        return obj

    def upsert_many(
        self, object_type: str, id_property: str, inputs: Sequence[tuple[str, Mapping[str, PropValue]]]
    ) -> list[tuple[CrmObject, bool]]:
        """Create or update by a unique property; returns each record with whether it was created."""
        with self._lock:
            table = self.table(object_type)
            keyed = [{**raw, id_property: key} for key, raw in inputs]
            prepared = self._prepare_all(table, keyed)
            writes: list[tuple[str | None, Changes]] = []
            for changes in prepared:
                key = changes.get(id_property) or ""
                writes.append((table.unique_index.get(id_property, {}).get(key), changes))
            self._check_unique(table, writes)
            return [
                (self._apply(table, table.objects[obj_id], changes), False)
                if obj_id
                else (self._insert(table, changes), True)
                for obj_id, changes in writes
            ]

    def archive(self, object_type: str, obj_id: str) -> bool:
        with self._lock:
            table = self.table(object_type)
            obj = table.objects.get(obj_id)
            if obj is None or obj.archived:
                return False
            self._index(table, obj, add=False)
            obj.archived = True
            obj.archived_ms = self._now_ms()
            return True

    # -- reads ------------------------------------------------------------------------------------

    def find(
        self, object_type: str, key: str, id_property: str | None = None, archived: bool = False
    ) -> CrmObject | None:
        """A record by id or by the value of a unique property (`idProperty`), live or archived."""
        with self._lock:
            table = self.table(object_type)
            if id_property in (None, "", "hs_object_id"):
                obj = table.objects.get(key)
                return obj if obj is not None and obj.archived == archived else None
            assert id_property is not None
            if id_property not in table.unique_names():
                raise validation_error(f"{id_property} is not a unique property of {object_type}.")
            wanted = key.lower() if (table.spec.name, id_property) == ("contacts", "email") else key
            if not archived:
                obj_id = table.unique_index.get(id_property, {}).get(wanted)
                return table.objects[obj_id] if obj_id is not None else None
            for obj in table.objects.values():
                if obj.archived == archived and obj.values.get(id_property) == wanted:
                    return obj
            return None

    def snapshot(self, object_type: str, archived: bool = False) -> list[CrmObject]:
        """Records ordered by numeric id, the order HubSpot pages them in."""
        with self._lock:
            table = self.table(object_type)
            chosen = [o for o in table.objects.values() if o.archived == archived]
        return sorted(chosen, key=lambda o: int(o.id))
