"""`/crm/v3/properties/{objectType}`: read the property model and create custom properties."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from concord.sandbox.hubspot.catalog import PropertyDefinition, PropertyOption
from concord.sandbox.hubspot.errors import HubSpotError, validation_error
from concord.sandbox.hubspot.routes_objects import spec_for
from concord.sandbox.hubspot.schemas import PropertyCreate, read_body
from concord.sandbox.hubspot.store import TwinStore


def _definition(body: PropertyCreate) -> PropertyDefinition:
    if body.type == "enumeration" and not body.options:
        raise validation_error(f"Enumeration property {body.name} needs at least one option.")
    if body.has_unique_value and body.type not in ("string", "number"):
        raise validation_error("Only string and number properties can require unique values.")
    return PropertyDefinition(
        name=body.name,
        label=body.label,
        type=body.type,
        field_type=body.field_type,
        group_name=body.group_name,
        description=body.description,
        options=tuple(
            PropertyOption(label=o.label, value=o.value, display_order=o.display_order, hidden=o.hidden)
            for o in body.options
        ),
        has_unique_value=body.has_unique_value,
        hubspot_defined=False,
        display_order=body.display_order,
        form_field=body.form_field,
    )


def property_router(store: TwinStore) -> APIRouter:
    router = APIRouter(prefix="/crm/v3/properties/{object_type}")

    @router.get("")
    async def list_properties(object_type: str) -> Response:
        spec = spec_for(object_type)
        return JSONResponse({"results": [d.to_json() for d in store.definitions(spec.name)]})

    @router.get("/{property_name}")
    async def get_property(object_type: str, property_name: str) -> Response:
        spec = spec_for(object_type)
        for definition in store.definitions(spec.name):
            if definition.name == property_name:
                return JSONResponse(definition.to_json())
        raise HubSpotError(
            404, "OBJECT_NOT_FOUND", f"Unable to find property {property_name} for object type {spec.type_id}"
        )

    @router.post("")
    async def create_property(request: Request, object_type: str) -> Response:
        spec = spec_for(object_type)
        body = await read_body(request, PropertyCreate)
        created = store.add_definition(spec.name, _definition(body))
        return JSONResponse(created.to_json(), status_code=201)

    return router
