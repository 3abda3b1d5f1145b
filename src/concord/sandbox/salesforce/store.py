"""The twin org's data: rows per sObject, soft deletes, an undo journal for allOrNone, and drift hooks.

Rows are plain dicts keyed by canonical field names. Every request handler and every test that reaches in
through `app.state.store` takes `store.lock`, so a test thread can inject drift while the server runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from concord.sandbox.salesforce.ids import make_id, normalize_id
from concord.sandbox.salesforce.schema import ObjectDef, Value, object_def, standard_objects

Row = dict[str, Value]
# (object name, record id, row before the write or None when the write created it)
JournalEntry = tuple[str, str, Row | None]


def truncate_ms(moment: datetime) -> datetime:
    """Salesforce keeps datetimes to the millisecond; so does the twin, so equality filters round-trip."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Store:
    def __init__(self, clock: Callable[[], datetime], user_id: str) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.user_id = user_id
        self._tables: dict[str, dict[str, Row]] = {}
        self._serial = 0
        self._journal: list[JournalEntry] | None = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._tables = {obj.name: {} for obj in standard_objects().values()}
            self._serial = 0

    def now(self) -> datetime:
        return truncate_ms(self.clock())

    def new_id(self, obj: ObjectDef) -> str:
        with self.lock:
            self._serial += 1
            return make_id(obj.key_prefix, self._serial)

    def get(self, obj: ObjectDef, record_id: str) -> Row | None:
        """The row (deleted or not) with that 15- or 18-character id."""
        full = normalize_id(record_id)
        return self._tables[obj.name].get(full) if full else None

    def rows(self, obj: ObjectDef, include_deleted: bool = False) -> list[Row]:
        """Rows in creation order; callers must hold `lock` while they use them."""
        table = self._tables[obj.name].values()
        return [row for row in table if include_deleted or not row["IsDeleted"]]

    def find(self, obj: ObjectDef, field: str, value: str) -> list[Row]:
        """Live rows whose `field` equals `value`, case-insensitively (external ids and unique text match so)."""
        wanted = value.casefold()
        return [row for row in self.rows(obj) if isinstance(row.get(field), str)
                and str(row[field]).casefold() == wanted]

    def write(self, obj: ObjectDef, row: Row) -> None:
        """Store `row` (keyed by its Id), remembering the previous version while a journal is open."""
        with self.lock:
            table = self._tables[obj.name]
            record_id = str(row["Id"])
            if self._journal is not None:
                previous = table.get(record_id)
                self._journal.append((obj.name, record_id, dict(previous) if previous else None))
            table[record_id] = row

    @contextmanager
    def journal(self) -> Iterator[list[JournalEntry]]:
        """Record every write inside the block so `undo` can roll all of them back (allOrNone)."""
        with self.lock:
            outer, self._journal = self._journal, []
            try:
                yield self._journal
            finally:
                self._journal = outer

    def undo(self, entries: list[JournalEntry]) -> None:
        with self.lock:
            for name, record_id, previous in reversed(entries):
                if previous is None:
                    self._tables[name].pop(record_id, None)
                else:
                    self._tables[name][record_id] = previous

    def counts(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {
                name: {"live": sum(1 for r in t.values() if not r["IsDeleted"]),
                       "deleted": sum(1 for r in t.values() if r["IsDeleted"])}
                for name, t in self._tables.items()
            }

    # Drift hooks: change the org the way a person in the Salesforce UI or another integration would,
    # bypassing the REST API (no validation, no quota), so reconciliation has something to find.

    def inject(self, sobject: str, fields: Row) -> str:
        """Insert a row directly; system fields are filled in. Returns the new Id."""
        obj = _object(sobject)
        with self.lock:
            now = self.now()
            row: Row = {field.name: None for field in obj.fields}
            row.update(Id=self.new_id(obj), IsDeleted=False, OwnerId=self.user_id, CreatedDate=now,
                       CreatedById=self.user_id, LastModifiedDate=now, LastModifiedById=self.user_id,
                       SystemModstamp=now)
            row.update({_field(obj, name): value for name, value in fields.items()})
            derive(obj, row)
            self.write(obj, row)
            return str(row["Id"])

    def tamper(self, sobject: str, record_id: str, changes: Row, touch: bool = True) -> None:
        """Change fields of an existing row directly. `touch=False` leaves SystemModstamp and
        LastModifiedDate alone, a change that incremental sync cannot see (only a full reconcile can)."""
        obj = _object(sobject)
        with self.lock:
            row = self.get(obj, record_id)
            if row is None:
                raise KeyError(record_id)
            updated = dict(row)
            updated.update({_field(obj, name): value for name, value in changes.items()})
            if touch:
                now = self.now()
                updated.update(LastModifiedDate=now, SystemModstamp=now)
            derive(obj, updated)
            self.write(obj, updated)

    def snapshot(self, sobject: str, include_deleted: bool = False) -> list[Row]:
        """Copies of the rows of one sObject, for assertions."""
        with self.lock:
            return [dict(row) for row in self.rows(_object(sobject), include_deleted)]


def _object(name: str) -> ObjectDef:
    obj = object_def(name)
    if obj is None:
        raise KeyError(f"unknown sObject {name!r}")
    return obj


def _field(obj: ObjectDef, name: str) -> str:
    field = obj.field(name)
    if field is None:
        raise KeyError(f"no field {name!r} on {obj.name}")
    return field.name


def derive(obj: ObjectDef, row: Row) -> None:
    """Platform-computed fields: references stored as 18-character ids, Contact.Name from its parts."""
    for field in obj.fields:
        value = row.get(field.name)
        if field.type == "reference" and isinstance(value, str):
            row[field.name] = normalize_id(value) or value
    if obj.name == "Contact":
        row["Name"] = " ".join(str(part) for part in (row.get("FirstName"), row.get("LastName")) if part)
