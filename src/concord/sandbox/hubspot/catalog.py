"""The object types and property definitions the twin knows, shaped like HubSpot's Properties API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from concord.sandbox.hubspot.timefmt import iso_from_ms

PropertyType = Literal["string", "number", "date", "datetime", "enumeration", "bool"]
FieldType = Literal[
    "textarea", "text", "date", "file", "number", "select", "radio", "checkbox", "booleancheckbox",
    "calculation_equation", "phonenumber",
]
CONCORD_GROUP = "concord_sync"
# HubSpot caps unique-value properties per object type.
MAX_UNIQUE_PROPERTIES = 10


@dataclass(frozen=True)
class ObjectTypeSpec:
    """One standard CRM object: its path name, label, the property that stamps modifications and the
    properties HubSpot returns when the caller asks for none (the same set the search endpoint returns)."""

    name: str
    singular: str
    label: str
    type_id: str
    group: str
    modified_property: str
    default_properties: tuple[str, ...]
    text_properties: tuple[str, ...]


OBJECT_TYPES: dict[str, ObjectTypeSpec] = {
    "companies": ObjectTypeSpec(
        "companies", "company", "Company", "0-2", "companyinformation", "hs_lastmodifieddate",
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        ("name", "domain", "website", "phone"),
    ),
    "contacts": ObjectTypeSpec(
        "contacts", "contact", "Contact", "0-1", "contactinformation", "lastmodifieddate",
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        ("firstname", "lastname", "email", "phone", "company"),
    ),
    "deals": ObjectTypeSpec(
        "deals", "deal", "Deal", "0-3", "dealinformation", "hs_lastmodifieddate",
        ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
         "hs_object_id", "pipeline"),
        ("dealname",),
    ),
}


def resolve_object_type(raw: str) -> ObjectTypeSpec | None:
    """HubSpot accepts the plural path name, the singular and the numeric object type id."""
    for spec in OBJECT_TYPES.values():
        if raw in (spec.name, spec.singular, spec.type_id):
            return spec
    return None


class PropertyOption(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False


class PropertyDefinition(BaseModel):
    """A property as HubSpot stores its definition; `to_json` renders the Properties API shape."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: tuple[PropertyOption, ...] = ()
    has_unique_value: bool = False
    hubspot_defined: bool = True
    read_only_value: bool = False
    external_options: bool = False
    display_order: int = -1
    form_field: bool = False
    created_ms: int = 0

    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "updatedAt": iso_from_ms(self.created_ms),
            "createdAt": iso_from_ms(self.created_ms),
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [
                {"label": o.label, "value": o.value, "displayOrder": o.display_order, "hidden": o.hidden}
                for o in self.options
            ],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
        }
        # HubSpot only flags its own properties; custom ones come back without the key.
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        return body


def _options(pairs: tuple[tuple[str, str], ...]) -> tuple[PropertyOption, ...]:
    return tuple(PropertyOption(value=v, label=label, display_order=i) for i, (v, label) in enumerate(pairs))


LIFECYCLE_STAGES = _options((
    ("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"), ("customer", "Customer"),
    ("evangelist", "Evangelist"), ("other", "Other"),
))
DEAL_STAGES = _options((
    ("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"), ("closedwon", "Closed Won"), ("closedlost", "Closed Lost"),
))
PIPELINES = _options((("default", "Sales Pipeline"),))

# (name, label, type, fieldType) per object type; option sets and flags are applied below.
_STANDARD: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "companies": (
        ("name", "Company name", "string", "text"), ("domain", "Company Domain Name", "string", "text"),
        ("phone", "Phone Number", "string", "phonenumber"), ("industry", "Industry", "string", "text"),
        ("city", "City", "string", "text"), ("state", "State/Region", "string", "text"),
        ("zip", "Postal Code", "string", "text"), ("country", "Country/Region", "string", "text"),
        ("address", "Street Address", "string", "text"),
        ("numberofemployees", "Number of Employees", "number", "number"),
        ("annualrevenue", "Annual Revenue", "number", "number"),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
        ("hubspot_owner_id", "Company owner", "enumeration", "select"),
        ("description", "Description", "string", "textarea"), ("website", "Website URL", "string", "text"),
    ),
    "contacts": (
        ("email", "Email", "string", "text"), ("firstname", "First Name", "string", "text"),
        ("lastname", "Last Name", "string", "text"), ("phone", "Phone Number", "string", "phonenumber"),
        ("jobtitle", "Job Title", "string", "text"), ("company", "Company Name", "string", "text"),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
        ("associatedcompanyid", "Primary Associated Company ID", "number", "number"),
    ),
    "deals": (
        ("dealname", "Deal Name", "string", "text"), ("dealstage", "Deal Stage", "enumeration", "radio"),
        ("pipeline", "Pipeline", "enumeration", "select"), ("amount", "Amount", "number", "number"),
        ("closedate", "Close Date", "datetime", "date"),
    ),
}
_CUSTOM: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "companies": (
        ("concord_id", "Concord ID", "string", "text"),
        ("erp_customer_number", "ERP customer number", "string", "text"),
        ("credit_status", "Credit status", "string", "text"),
        ("payment_terms", "Payment terms", "string", "text"),
    ),
    "contacts": (("concord_id", "Concord ID", "string", "text"),),
    "deals": (("concord_id", "Concord ID", "string", "text"),),
}
_OPTIONS = {"lifecyclestage": LIFECYCLE_STAGES, "dealstage": DEAL_STAGES, "pipeline": PIPELINES}


def _system_properties(spec: ObjectTypeSpec, now_ms: int) -> list[PropertyDefinition]:
    modified_label = "Last Modified Date"
    return [
        PropertyDefinition(name="createdate", label="Create Date", type="datetime", field_type="date",
                           group_name=spec.group, created_ms=now_ms),
        PropertyDefinition(name=spec.modified_property, label=modified_label, type="datetime",
                           field_type="date", group_name=spec.group, read_only_value=True, created_ms=now_ms),
        PropertyDefinition(name="hs_object_id", label="Record ID", type="number", field_type="number",
                           group_name=spec.group, read_only_value=True, created_ms=now_ms),
    ]


def default_definitions(spec: ObjectTypeSpec, now_ms: int) -> list[PropertyDefinition]:
    """Standard properties of one object type plus the custom ones a Concord portal is set up with."""
    found = _system_properties(spec, now_ms)
    for order, (name, label, kind, field_type) in enumerate(_STANDARD[spec.name]):
        found.append(PropertyDefinition(
            name=name, label=label, type=kind, field_type=field_type, group_name=spec.group,
            options=_OPTIONS.get(name, ()), external_options=name == "hubspot_owner_id",
            display_order=order, form_field=True, created_ms=now_ms,
        ))
    for name, label, kind, field_type in _CUSTOM[spec.name]:
        found.append(PropertyDefinition(
            name=name, label=label, type=kind, field_type=field_type, group_name=CONCORD_GROUP,
            has_unique_value=name == "concord_id", hubspot_defined=False, created_ms=now_ms,
        ))
    return found
