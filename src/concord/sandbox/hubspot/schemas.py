"""Request bodies of the CRM v3 endpoints, validated into typed models.

Malformed JSON and bodies that do not fit the documented schema get HubSpot's 400 VALIDATION_ERROR with
the "Invalid input JSON" message its Jackson-based deserialiser produces.
"""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from concord.sandbox.hubspot.catalog import FieldType, PropertyType
from concord.sandbox.hubspot.errors import validation_error
from concord.sandbox.hubspot.values import PropValue

Operator = Literal[
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
]


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", coerce_numbers_to_str=True)


class ObjectInput(_Body):
    properties: dict[str, PropValue]


class ObjectIdInput(_Body):
    id: str


class BatchCreate(_Body):
    inputs: list[ObjectInput]


class BatchUpdateItem(_Body):
    id: str
    id_property: str | None = Field(default=None, alias="idProperty")
    properties: dict[str, PropValue]


class BatchUpdate(_Body):
    inputs: list[BatchUpdateItem]


class BatchUpsert(_Body):
    inputs: list[BatchUpdateItem]


class BatchRead(_Body):
    inputs: list[ObjectIdInput]
    properties: list[str] = Field(default_factory=list)
    properties_with_history: list[str] = Field(default_factory=list, alias="propertiesWithHistory")
    id_property: str | None = Field(default=None, alias="idProperty")


class BatchArchive(_Body):
    inputs: list[ObjectIdInput]


class SearchFilter(_Body):
    property_name: str = Field(alias="propertyName")
    operator: Operator = "EQ"
    value: PropValue = None
    high_value: PropValue = Field(default=None, alias="highValue")
    values: list[PropValue] | None = None


class FilterGroup(_Body):
    filters: list[SearchFilter]


class SortSpec(_Body):
    property_name: str = Field(alias="propertyName")
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchRequest(_Body):
    filter_groups: list[FilterGroup] = Field(default_factory=list, alias="filterGroups")
    sorts: list[SortSpec | str] = Field(default_factory=list)
    properties: list[str] = Field(default_factory=list)
    limit: int = Field(default=10, ge=0)
    after: str | None = None
    query: str | None = None


class OptionInput(_Body):
    label: str
    value: str
    display_order: int = Field(default=0, alias="displayOrder")
    hidden: bool = False


class PropertyCreate(_Body):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    label: str
    type: PropertyType
    field_type: FieldType = Field(alias="fieldType")
    group_name: str = Field(alias="groupName")
    description: str = ""
    options: list[OptionInput] = Field(default_factory=list)
    display_order: int = Field(default=-1, alias="displayOrder")
    has_unique_value: bool = Field(default=False, alias="hasUniqueValue")
    form_field: bool = Field(default=False, alias="formField")


Body = TypeVar("Body", bound=BaseModel)


async def read_body(request: Request, model: type[Body]) -> Body:
    raw = await request.body()
    if not raw.strip():
        raise validation_error("Invalid input JSON: No content to map due to end-of-input")
    try:
        data: object = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise validation_error(
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise validation_error(
            f"Invalid input JSON on line 1, column 1: Cannot build {model.__name__}: {where}: {first['msg']}"
        ) from None
