"""Records rendered as HubSpot's `SimplePublicObject` JSON."""

from __future__ import annotations

from collections.abc import Iterable

from concord.sandbox.hubspot.store import CrmObject, ObjectTable
from concord.sandbox.hubspot.timefmt import iso_from_ms

JsonObject = dict[str, object]


def split_names(raw: Iterable[str]) -> list[str]:
    """`properties` arrive repeated (`?properties=a&properties=b`) or comma-joined (`?properties=a,b`)."""
    names: list[str] = []
    for chunk in raw:
        names.extend(part.strip() for part in chunk.split(",") if part.strip())
    return names


def _selected(
    table: ObjectTable, values: dict[str, str], requested: list[str] | None
) -> dict[str, str | None]:
    spec = table.spec
    if requested is None:
        # Write responses echo every set value plus the system properties.
        return dict(sorted(values.items()))
    # Reads return what was asked for (null when unset; unknown names are ignored) plus the system
    # properties, or the object's default set when nothing was asked for.
    names = requested or list(spec.default_properties)
    wanted = {n for n in names if n in table.definitions}
    wanted |= {"createdate", spec.modified_property, "hs_object_id"}
    return {name: values.get(name) for name in sorted(wanted)}


def render(table: ObjectTable, obj: CrmObject, requested: list[str] | None) -> JsonObject:
    """`requested=None` renders a write response, a list (possibly empty) a read response."""
    body: JsonObject = {
        "id": obj.id,
        "properties": _selected(table, table.values_of(obj), requested),
        "createdAt": iso_from_ms(obj.created_ms),
        "updatedAt": iso_from_ms(obj.updated_ms),
        "archived": obj.archived,
    }
    if obj.archived_ms is not None:
        body["archivedAt"] = iso_from_ms(obj.archived_ms)
    return body
