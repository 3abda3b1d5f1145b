"""Every shipped mapping round-trips: canonical → native → canonical is the identity on its two-way fields."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.canonical.fields import JsonValue, field_catalog, normalize_values
from concord.canonical.models import ENTITY_TYPES
from concord.mappings.mapper import Mapper, flatten_native
from concord.mappings.registry import MappingSet, bundled_specs_dir, load_mapping_set
from concord.mappings.spec import Direction, FieldMapping, MappingSpec
from concord.yamlconf import load_yaml_file
from tests.canonical.strategies import field_value

SPEC_FILES = sorted(p.name for p in bundled_specs_dir().glob("*.yaml"))
# Read-only mappings (every field inbound: invoices Concord learns but never writes) have nothing to round-trip.
READ_ONLY_FILES = sorted(p.name for p in bundled_specs_dir().glob("*.yaml")
                         if all(fm.direction is Direction.INBOUND for fm in load_yaml_file(MappingSpec, p).fields))
ROUND_TRIP_FILES = [name for name in SPEC_FILES if name not in READ_ONLY_FILES]


@cache
def shipped() -> MappingSet:
    return load_mapping_set(bundled_specs_dir())


@cache
def mapper_for(file_name: str) -> Mapper:
    spec = load_yaml_file(MappingSpec, bundled_specs_dir() / file_name)
    found = shipped().get(spec.system, spec.entity)
    assert found is not None and found.spec == spec
    return found


class References:
    """Both directions of the id mapping a real binder keeps: canonical id ↔ the system's external id."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.external: dict[tuple[str, str], str] = {}

    def resolve(self, entity: str, canonical_id: str) -> str | None:
        return self.external.setdefault((entity, canonical_id), f"{self.system}-{entity}-{len(self.external)}")

    def canonical(self, entity: str, external_id: str) -> str:
        return next(cid for (e, cid), ext in self.external.items() if (e, ext) == (entity, external_id))


def two_way(spec: MappingSpec) -> list[FieldMapping]:
    return [fm for fm in spec.fields if fm.direction is Direction.BOTH]


def value_strategy(spec: MappingSpec, fm: FieldMapping, nullable: bool = True) -> st.SearchStrategy[JsonValue]:
    if fm.values is not None:
        # a picklist carries exactly the canonical values it maps
        picked = st.sampled_from(sorted(fm.values))
        return (st.none() | picked) if nullable else picked
    return field_value(spec.entity, fm.canonical, nullable)


@cache
def record_strategy(file_name: str) -> st.SearchStrategy[dict[str, JsonValue]]:
    m = mapper_for(file_name)
    return st.fixed_dictionaries({fm.canonical: value_strategy(m.spec, fm) for fm in two_way(m.spec)})


def test_every_spec_file_is_loaded() -> None:
    assert len(SPEC_FILES) == len(shipped().mappers) >= 9
    assert {e for _, e in shipped().mappers} <= set(ENTITY_TYPES)


def test_read_only_mappings_are_the_invoice_feeds() -> None:
    assert READ_ONLY_FILES == ["stripe_invoice.yaml", "tryton_invoice.yaml"]
    for name in READ_ONLY_FILES:
        assert mapper_for(name).outbound_paths == frozenset()  # nothing is ever sent back to the issuer


@pytest.mark.parametrize("file_name", ROUND_TRIP_FILES)
@settings(deadline=None)
@given(data=st.data())
def test_canonical_native_canonical_is_identity(file_name: str, data: st.DataObject) -> None:
    m = mapper_for(file_name)
    fields = two_way(m.spec)
    assert fields, f"{file_name} has no two-way field"
    values = data.draw(record_strategy(file_name))
    refs = References(m.spec.system)
    native = m.to_native(values, create=True, resolve=refs.resolve)
    inbound = m.to_canonical(native)
    back: dict[str, JsonValue] = dict(inbound.values)
    for path, (entity, external_id) in inbound.references.items():
        back[path] = refs.canonical(entity, external_id)
    # an empty reference is not sent at all, so it comes back absent
    back.update({fm.canonical: None for fm in fields if fm.reference is not None and fm.canonical not in back})
    assert normalize_values(m.spec.entity, back) == values


@pytest.mark.parametrize("file_name", SPEC_FILES)
def test_value_maps_cover_the_canonical_enum(file_name: str) -> None:
    m = mapper_for(file_name)
    for fm in m.spec.fields:
        if fm.values is None:
            continue
        annotation = field_catalog(m.spec.entity)[fm.canonical].annotation
        enum = next(a for a in getattr(annotation, "__args__", ()) if a is not type(None))
        assert set(fm.values) == {member.value for member in enum}, f"{file_name}: {fm.canonical}"


@pytest.mark.parametrize("file_name", SPEC_FILES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_create_sends_every_outbound_field(file_name: str, data: st.DataObject) -> None:
    m = mapper_for(file_name)
    outbound = [fm for fm in m.spec.fields if fm.outbound]
    values = {fm.canonical: data.draw(value_strategy(m.spec, fm, nullable=False))
              for fm in outbound}
    native = m.to_native(values, create=True, resolve=lambda entity, cid: f"ext-{cid}")
    assert {fm.native for fm in outbound} <= set(flatten_native(native))


def test_spec_files_are_where_the_registry_looks() -> None:
    assert bundled_specs_dir().is_dir() and all(Path(bundled_specs_dir(), f).is_file() for f in SPEC_FILES)
