"""Saving records: the checks Salesforce runs after deserializing (field access, lengths, lookups, required
fields, uniqueness) and the writes with their audit fields. Shared by the single-record and collection routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from concord.sandbox.salesforce.errors import FieldError, entity_deleted
from concord.sandbox.salesforce.ids import normalize_id
from concord.sandbox.salesforce.schema import FieldDef, ObjectDef, Value, object_def, object_for_prefix
from concord.sandbox.salesforce.store import Row, Store, derive
from concord.sandbox.salesforce.values import ForeignKey

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
Values = dict[str, Value | ForeignKey]


class RecordError(Exception):
    """A record the org refused; `status` is what a single-record REST call answers."""

    def __init__(self, errors: list[FieldError], status: int = 400) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors
        self.status = status


class MultipleMatches(Exception):
    """An upsert whose external id matched more than one record (REST answers 300)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = ids


@dataclass
class Dml:
    store: Store
    restricted_custom_picklists: bool = False

    def insert(self, obj: ObjectDef, values: Values) -> str:
        self._check_access(obj, values, creating=True)
        resolved = self._resolve(values)
        row: Row = {field.name: None for field in obj.fields}
        row.update(resolved)
        self._validate(obj, row, resolved, record_id=None)
        now = self.store.now()
        user = self.store.user_id
        row.update(Id=self.store.new_id(obj), IsDeleted=False, CreatedDate=now, CreatedById=user,
                   LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
        row["OwnerId"] = row["OwnerId"] or user
        derive(obj, row)
        self.store.write(obj, row)
        return str(row["Id"])

    def update(self, obj: ObjectDef, record_id: str, values: Values) -> str:
        current = self.live_row(obj, record_id)
        values = dict(values)
        body_id = values.pop("Id", None)
        if body_id is not None and normalize_id(str(body_id)) != current["Id"]:
            values["Id"] = body_id
        self._check_access(obj, values, creating=False)
        resolved = self._resolve(values)
        row = dict(current)
        row.update(resolved)
        self._validate(obj, row, resolved, record_id=str(current["Id"]))
        now = self.store.now()
        row.update(LastModifiedDate=now, LastModifiedById=self.store.user_id, SystemModstamp=now)
        derive(obj, row)
        self.store.write(obj, row)
        return str(row["Id"])

    def upsert(self, obj: ObjectDef, key_field: FieldDef, key: str, values: Values) -> tuple[str, bool]:
        """Update the one record whose `key_field` is `key`, or insert one; returns (id, created)."""
        body_key = values.get(key_field.name)
        if body_key is not None and str(body_key).casefold() != key.casefold():
            raise RecordError([FieldError("INVALID_FIELD", f"{key_field.name}: the value in the request body "
                                          f"({body_key}) differs from the value in the URL ({key})",
                                          (key_field.name,))])
        if key_field.type == "id":
            return self.update(obj, key, values), False
        matches = self.store.find(obj, key_field.name, key)
        if len(matches) > 1:
            raise MultipleMatches([str(row["Id"]) for row in matches])
        if matches:
            return self.update(obj, str(matches[0]["Id"]), values), False
        return self.insert(obj, {**values, key_field.name: key}), True

    def delete(self, obj: ObjectDef, record_id: str) -> str:
        row = self.live_row(obj, record_id)
        self._soft_delete(obj, row)
        if obj.name == "Account":
            self._cascade(str(row["Id"]))
        return str(row["Id"])

    def live_row(self, obj: ObjectDef, record_id: str) -> Row:
        full = normalize_id(record_id)
        if full is None or full[:3] != obj.key_prefix:
            raise RecordError([FieldError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: "
                                          f"{record_id}", ("Id",))], status=400 if full is None else 404)
        row = self.store.get(obj, full)
        if row is None:
            raise RecordError([FieldError("NOT_FOUND", "The requested resource does not exist")], status=404)
        if row["IsDeleted"]:
            raise RecordError([entity_deleted()], status=404)
        return row

    def _soft_delete(self, obj: ObjectDef, row: Row) -> None:
        now = self.store.now()
        self.store.write(obj, {**row, "IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now})

    def _cascade(self, account_id: str) -> None:
        """Deleting an account deletes its contacts and opportunities and clears children's ParentId."""
        for name in ("Contact", "Opportunity"):
            child = object_def(name)
            assert child is not None
            for row in self.store.find(child, "AccountId", account_id):
                self._soft_delete(child, row)
        account = object_def("Account")
        assert account is not None
        for row in self.store.find(account, "ParentId", account_id):
            now = self.store.now()
            self.store.write(account, {**row, "ParentId": None, "SystemModstamp": now, "LastModifiedDate": now})

    def _check_access(self, obj: ObjectDef, values: Values, creating: bool) -> None:
        denied = [name for name in values if not _writable(obj, name, creating)]
        if denied:
            raise RecordError([FieldError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(denied)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                tuple(denied),
            )])

    def _resolve(self, values: Values) -> Row:
        """Replace parent references by external id with the parent's record id."""
        resolved: Row = {}
        for name, value in values.items():
            if isinstance(value, ForeignKey):
                resolved[name] = self._resolve_key(value)
            else:
                resolved[name] = value
        return resolved

    def _resolve_key(self, fk: ForeignKey) -> str:
        if fk.key_field.type == "id":
            return fk.key
        matches = self.store.find(fk.target, fk.key_field.name, fk.key)
        if len(matches) == 1:
            return str(matches[0]["Id"])
        if not matches:
            message = (f"Foreign key external ID: {fk.key} not found for field {fk.key_field.name} in entity "
                       f"{fk.target.name}")
        else:
            message = (f"Foreign key external ID: {fk.key} matches multiple records for field "
                       f"{fk.key_field.name} in entity {fk.target.name}")
        raise RecordError([FieldError("INVALID_FIELD", message, ())])

    def _validate(self, obj: ObjectDef, row: Row, changed: Row, record_id: str | None) -> None:
        errors = [error for name, value in changed.items()
                  if (error := self._check_value(obj.field(name), value)) is not None]
        if errors:
            raise RecordError(errors)
        missing = [f.name for f in obj.fields if f.required and row.get(f.name) in (None, "")]
        if missing:
            raise RecordError([FieldError("REQUIRED_FIELD_MISSING",
                                          f"Required fields are missing: [{', '.join(missing)}]",
                                          tuple(missing))])
        for field in obj.fields:
            value = row.get(field.name)
            if field.unique and isinstance(value, str) and field.name in changed:
                clash = [r for r in self.store.find(obj, field.name, value) if r["Id"] != record_id]
                if clash:
                    raise RecordError([FieldError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {field.name} duplicates value on record with id: "
                        f"{clash[0]['Id']}", ())])

    def _check_value(self, field: FieldDef | None, value: Value) -> FieldError | None:
        if field is None or value is None:
            return None
        text = str(value)
        if field.type == "reference":
            return self._check_reference(field, text)
        if field.length and field.type != "id" and len(text) > field.length:
            return FieldError("STRING_TOO_LONG", f"{field.label}: data value too large: {text} "
                              f"(max length={field.length})", (field.name,))
        if field.type == "email" and not _EMAIL.match(text):
            return FieldError("INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}",
                              (field.name,))
        if field.type == "picklist" and field.custom and self.restricted_custom_picklists \
                and text not in field.picklist:
            return FieldError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"{field.label}: bad value for restricted picklist field: {text}", (field.name,))
        return None

    def _check_reference(self, field: FieldDef, text: str) -> FieldError | None:
        full = normalize_id(text)
        if full is None:
            return FieldError("MALFORMED_ID", f"{field.label}: id value of incorrect type: {text}",
                              (field.name,))
        target = object_def(field.reference_to[0])
        if target is None:
            # The twin has no User table: any well-formed 005 id is an owner.
            ok = full.startswith("005")
            return None if ok else FieldError("FIELD_INTEGRITY_EXCEPTION",
                                              f"{field.label}: id value of incorrect type: {text}",
                                              (field.name,))
        if object_for_prefix(full[:3]) is not target:
            return FieldError("FIELD_INTEGRITY_EXCEPTION", f"{field.label}: id value of incorrect type: {text}",
                              (field.name,))
        parent = self.store.get(target, full)
        if parent is None:
            return FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ())
        return entity_deleted() if parent["IsDeleted"] else None


def _writable(obj: ObjectDef, name: str, creating: bool) -> bool:
    field = obj.field(name)
    return field is not None and (field.createable if creating else field.updateable)
