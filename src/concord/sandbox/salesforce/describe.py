"""Describe results (`/sobjects`, `/sobjects/{name}/describe`) in Salesforce's shape, trimmed to the keys
clients read: names, types, lengths, the external-id/unique/nillable/createable/updateable flags, picklists."""

from __future__ import annotations

from concord.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, JsonValue, ObjectDef, standard_objects

_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
               "double": "xsd:double", "currency": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime"}


def _urls(obj: ObjectDef, version: str) -> dict[str, JsonValue]:
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _summary(obj: ObjectDef, version: str) -> dict[str, JsonValue]:
    return {
        "name": obj.name, "label": obj.label, "labelPlural": obj.label_plural, "keyPrefix": obj.key_prefix,
        "custom": False, "createable": True, "updateable": True, "deletable": True, "queryable": True,
        "retrieveable": True, "searchable": True, "undeletable": True, "urls": _urls(obj, version),
    }


def describe_field(field: FieldDef) -> dict[str, JsonValue]:
    return {
        "name": field.name,
        "label": field.label,
        "type": field.type,
        "soapType": _SOAP_TYPES.get(field.type, "xsd:string"),
        "length": field.length,
        "precision": field.precision if field.type in NUMBER_TYPES else 0,
        "scale": field.scale,
        "digits": field.precision if field.type == "int" else 0,
        "externalId": field.external_id,
        "unique": field.unique,
        "idLookup": field.external_id or field.type == "id",
        "nillable": field.nillable,
        "createable": field.createable,
        "updateable": field.updateable,
        "custom": field.custom,
        "defaultedOnCreate": field.defaulted_on_create,
        "filterable": True,
        "sortable": field.type != "textarea",
        "caseSensitive": False,
        "referenceTo": list(field.reference_to),
        "relationshipName": field.relationship_name,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}
            for value in field.picklist
        ],
        "restrictedPicklist": False,
    }


def describe_object(obj: ObjectDef, version: str, restricted: bool = False) -> dict[str, JsonValue]:
    fields = [describe_field(field) for field in obj.fields]
    if restricted:
        for described, field in zip(fields, obj.fields, strict=True):
            described["restrictedPicklist"] = field.custom and bool(field.picklist)
    return {**_summary(obj, version), "fields": list(fields)}


def describe_global(version: str, max_batch_size: int) -> dict[str, JsonValue]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": max_batch_size,
        "sobjects": [_summary(obj, version) for obj in standard_objects().values()],
    }
