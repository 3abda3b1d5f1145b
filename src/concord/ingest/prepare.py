"""Turning a submitted change into a canonical change, before any I/O: mapping, typing, validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from concord.canonical.fields import FieldValidationError, JsonValue, UnknownEntity, normalize_values
from concord.canonical.golden import ts_to_us
from concord.frozen import rebuild
from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangeError
from concord.jsonguard import NUL, holds_nul, nul_path
from concord.mappings.mapper import MappingError


@dataclass(frozen=True)
class PreparedChange:
    request: ChangeCreate
    change_id: str
    correlation_id: str
    source_ts_us: int
    values: dict[str, JsonValue]  # canonical, JSON mode
    references: dict[str, tuple[str, str]]  # canonical path → (entity, external id in the source system)
    mapping_version: str | None
    approved_by: str | None = None  # a steward approved this non-owner value
    # The request's addressing, copied once: the writer reads them ~60 times per change, and every attribute
    # read on a pydantic model goes through BaseModel's __getattr__ hook (~750 instructions; decision 091).
    tenant: str = field(init=False, repr=False, compare=False)
    system: str = field(init=False, repr=False, compare=False)
    entity: str = field(init=False, repr=False, compare=False)
    external_id: str = field(init=False, repr=False, compare=False)
    idempotency_key: str = field(init=False, repr=False, compare=False)
    canonical_id: str | None = field(init=False, repr=False, compare=False)  # the caller's hint, if any

    def __init__(self, request: ChangeCreate, change_id: str, correlation_id: str, source_ts_us: int,
                 values: dict[str, JsonValue], references: dict[str, tuple[str, str]], mapping_version: str | None,
                 approved_by: str | None = None) -> None:
        object.__setattr__(self, "request", request)  # written out: decision 091
        object.__setattr__(self, "change_id", change_id)
        object.__setattr__(self, "correlation_id", correlation_id)
        object.__setattr__(self, "source_ts_us", source_ts_us)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "mapping_version", mapping_version)
        object.__setattr__(self, "approved_by", approved_by)
        object.__setattr__(self, "tenant", request.tenant)
        object.__setattr__(self, "system", request.system)
        object.__setattr__(self, "entity", request.entity)
        object.__setattr__(self, "external_id", request.external_id)
        object.__setattr__(self, "idempotency_key", request.idempotency_key)
        object.__setattr__(self, "canonical_id", request.canonical_id)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


class Rejected(Exception):
    """The change cannot be accepted; `error` says why. Nothing of it is stored."""

    def __init__(self, error: ChangeError) -> None:
        super().__init__(error.detail)
        self.error = error


def _unprocessable(detail: str, field: str | None = None, errors: list[dict[str, str]] | None = None) -> Rejected:
    return Rejected(ChangeError(status=422, title="Unprocessable change", detail=detail, field=field,
                                errors=errors or []))


def _map(runtime: Runtime, req: ChangeCreate) -> tuple[dict[str, JsonValue], dict[str, tuple[str, str]], str | None]:
    if req.system in INTERNAL_SYSTEMS:
        return dict(req.fields), {}, None
    mapper = runtime.mappings.get(req.system, req.entity, req.tenant)
    if mapper is None:
        raise _unprocessable(f"no mapping for system {req.system!r} and entity {req.entity!r}", "entity")
    try:
        inbound = mapper.to_canonical(req.fields)
    except MappingError as exc:
        raise _unprocessable(str(exc), f"fields.{exc.field}") from exc
    return inbound.values, inbound.references, mapper.label


_TEXT_FIELDS = ("system", "entity", "external_id", "idempotency_key", "correlation_id", "canonical_id")


def nul_field(req: ChangeCreate) -> str | None:
    """The first field of a change holding a NUL character (PostgreSQL text cannot store it), or None. The API
    refuses such bodies at its edge already; this covers every other door (CLI, scale front, capture)."""
    for name in _TEXT_FIELDS:
        value = getattr(req, name)
        if value is not None and NUL in value:
            return name
    # Nearly every change holds no NUL: one C-speed encode and byte scan says so for a third of the walk's
    # cost (per change, in the submitting thread). JSON text can only hold one as a `\u0000` escape, so a
    # clean encoding means the walk would find none; anything else (a NUL, text that only looks like one,
    # a value orjson cannot encode) still takes the walk, which names the path.
    try:
        if not holds_nul(orjson.dumps(req.fields)):
            return None
    except orjson.JSONEncodeError:  # e.g. a Decimal or a non-text key from a Python caller
        pass
    return nul_path(req.fields, "fields")


def prepare(runtime: Runtime, req: ChangeCreate) -> PreparedChange:
    """Map and validate one change; raise Rejected (422) naming the offending field."""
    nul = nul_field(req)
    if nul is not None:
        raise _unprocessable(f"NUL characters are not allowed in {nul}", nul)
    if not runtime.knows_system(req.system):
        raise _unprocessable(f"unknown system {req.system!r}", "system")
    tenant = runtime.hub.tenants.get(req.tenant)
    if tenant is None:
        raise _unprocessable(f"unknown tenant {req.tenant!r}", "tenant")
    if req.system not in INTERNAL_SYSTEMS and req.system not in tenant.systems:
        raise _unprocessable(f"system {req.system!r} is not enabled for tenant {req.tenant!r}", "system")
    raw, references, label = _map(runtime, req)
    try:
        values = normalize_values(req.entity, raw)
    except UnknownEntity as exc:
        raise _unprocessable(str(exc), "entity") from exc
    except FieldValidationError as exc:
        mapper = runtime.mappings.get(req.system, req.entity, req.tenant)
        name = mapper.native_name if mapper is not None else str
        errors = [{"field": f"fields.{name(p.field)}", "canonical_field": p.field, "message": p.message}
                  for p in exc.problems]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise _unprocessable(detail, errors[0]["field"], errors) from exc
    return PreparedChange(
        request=req, change_id=new_id(), correlation_id=req.correlation_id or new_id(),
        source_ts_us=ts_to_us(req.source_ts), values=values, references=references, mapping_version=label)
