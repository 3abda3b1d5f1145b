"""The mapper: native ↔ canonical translation, errors naming the native field, and mapping-set lookups."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from concord.mappings.mapper import Mapper, MappingError, flatten_native
from concord.mappings.registry import MappingSet, bundled_specs_dir, load_mapping_set
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import builtin_transforms
from concord.yamlconf import ConfigError


def make_spec(**overrides: Any) -> MappingSpec:
    raw: dict[str, Any] = {
        "system": "crm", "object": "Company", "entity": "account", "version": 3, "external_id": "Id",
        "fields": [
            {"canonical": "name", "native": "Name"},
            {"canonical": "segment", "native": "Tier", "values": {"smb": "S", "mid_market": "M", "enterprise": "E"}},
            {"canonical": "annual_revenue", "native": "Revenue", "transform": "number"},
            {"canonical": "erp_customer_number", "native": "Number", "create_only": True},
            {"canonical": "payment_terms", "native": "Terms", "default": "NET30"},
            {"canonical": "parent_account_id", "native": "ParentId", "reference": "account"},
            {"canonical": "billing_address.city", "native": "Address.City"},
            {"canonical": "industry", "native": "Industry", "direction": "inbound"},
            {"canonical": "lifecycle_state", "native": "Stage", "direction": "outbound"},
        ],
        "ignore": ["attributes.*", "LastModified"],
        "create_defaults": {"Source": "concord"},
    }
    raw.update(overrides)
    return MappingSpec.model_validate(raw, context={"transforms": builtin_transforms()})


def mapper(**overrides: Any) -> Mapper:
    return Mapper(make_spec(**overrides), builtin_transforms())


@cache
def shipped() -> MappingSet:
    return load_mapping_set(bundled_specs_dir())


def shipped_mapper(system: str, entity: str) -> Mapper:
    found = shipped().get(system, entity)
    assert found is not None
    return found


def test_flatten_native_addresses_nested_objects_with_dots() -> None:
    assert flatten_native({"a": 1, "b": {"c": 2, "d": {"e": None}}, "f": [1, {"g": 2}], "h": {}}) == {
        "a": 1, "b.c": 2, "b.d.e": None, "f": [1, {"g": 2}], "h": {}}


def test_inbound_maps_converts_and_keeps_references_apart() -> None:
    result = mapper().to_canonical({
        "Id": "001", "Name": "Acme", "Tier": "M", "Revenue": 1200.5, "ParentId": "002", "Industry": "Retail",
        "Address": {"City": "Berlin"}, "attributes": {"type": "Company", "url": "/x"}, "LastModified": "today"})
    assert result.values == {"name": "Acme", "segment": "mid_market", "annual_revenue": "1200.5",
                             "industry": "Retail", "billing_address.city": "Berlin"}
    assert result.references == {"parent_account_id": ("account", "002")}


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_reference_is_no_reference(empty: str | None) -> None:
    assert mapper().to_canonical({"ParentId": empty}).references == {}


def test_null_values_pass_through_inbound() -> None:
    assert mapper().to_canonical({"Tier": None, "Revenue": None, "Name": None}).values == {
        "segment": None, "annual_revenue": None, "name": None}


@pytest.mark.parametrize(("native", "field"), [
    ({"Nmae": "x"}, "Nmae"), ({"Address": {"Street": "x"}}, "Address.Street"), ({"attributesX": 1}, "attributesX"),
])
def test_unknown_native_field_is_named(native: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError) as info:
        mapper().to_canonical(native)
    err = info.value
    assert (err.system, err.entity, err.field) == ("crm", "account", field)
    assert str(err) == f"crm/account@3: {field}: unknown field (not in the mapping nor its ignore list)"


def test_value_outside_the_picklist_is_refused() -> None:
    with pytest.raises(MappingError, match=r"crm/account@3: Tier: value 'XL' is not one of 'S', 'M', 'E'") as info:
        mapper().to_canonical({"Tier": "XL"})
    assert info.value.field == "Tier"


def test_picklist_match_is_exact_in_type() -> None:
    spec = make_spec(fields=[{"canonical": "employee_count", "native": "Size", "values": {"1": 1, "2": "2"}}])
    m = Mapper(spec, builtin_transforms())
    assert m.to_canonical({"Size": 1}).values == {"employee_count": "1"}
    with pytest.raises(MappingError, match="value '1' is not one of 1, '2'"):
        m.to_canonical({"Size": "1"})


def test_transform_error_names_the_native_field() -> None:
    with pytest.raises(MappingError, match=r"crm/account@3: Revenue: not a number: 'lots'"):
        mapper().to_canonical({"Revenue": "lots"})


def test_outbound_create_sends_defaults_and_create_only_fields() -> None:
    native = mapper().to_native({"name": "Acme", "segment": "enterprise", "annual_revenue": "12.5",
                                 "erp_customer_number": "C-1", "billing_address.city": "Paris",
                                 "lifecycle_state": "active", "industry": "Retail"}, create=True)
    assert native == {"Source": "concord", "Name": "Acme", "Tier": "E", "Revenue": 12.5, "Number": "C-1",
                      "Terms": "NET30", "Address": {"City": "Paris"}, "Stage": "active"}


def test_outbound_update_sends_only_given_fields_and_never_create_only() -> None:
    m = mapper()
    assert m.to_native({"name": "Acme", "erp_customer_number": "C-1"}, create=False) == {"Name": "Acme"}
    assert m.to_native({}, create=False) == {}
    # an emptied field is sent as its default, on update too
    assert m.to_native({"payment_terms": None, "segment": None}, create=False) == {"Terms": "NET30", "Tier": None}


def test_outbound_value_without_native_counterpart_is_refused() -> None:
    m = mapper(fields=[{"canonical": "segment", "native": "Tier", "values": {"smb": "S"}}])
    with pytest.raises(MappingError, match="crm/account@3: Tier: no native value for canonical 'enterprise'"):
        m.to_native({"segment": "enterprise"}, create=False)


def test_outbound_references_resolve_or_are_left_out() -> None:
    m = mapper()
    calls: list[tuple[str, str]] = []

    def resolve(entity: str, canonical_id: str) -> str | None:
        calls.append((entity, canonical_id))
        return {"cus_parent": "002"}.get(canonical_id)

    assert m.to_native({"parent_account_id": "cus_parent"}, create=False, resolve=resolve) == {"ParentId": "002"}
    assert m.to_native({"parent_account_id": "cus_unbound"}, create=False, resolve=resolve) == {}
    assert m.to_native({"parent_account_id": "cus_parent"}, create=False) == {}
    assert m.to_native({"parent_account_id": None}, create=False, resolve=resolve) == {}
    assert calls == [("account", "cus_parent"), ("account", "cus_unbound")]


def test_paths_and_native_names() -> None:
    m = mapper()
    assert "industry" not in m.outbound_paths and {"lifecycle_state", "name", "parent_account_id"} <= m.outbound_paths
    assert m.native_name("billing_address.city") == "Address.City" and m.native_name("website") == "website"
    assert m.spec.label == "crm/account@3"


def test_stripe_nested_address_both_ways() -> None:
    stripe = shipped_mapper("stripe", "billing_account")
    native = stripe.to_native({"invoice_address.city": "Berlin", "invoice_address.country": "DE",
                               "currency": "EUR", "billing_email": "ap@acme.example"}, create=False)
    # Stripe sets a customer's currency from its first invoice and refuses it on create/update: read-only.
    assert native == {"address": {"city": "Berlin", "country": "DE"}, "email": "ap@acme.example"}
    back = stripe.to_canonical({"id": "cus_1", "object": "customer", "livemode": False, "currency": "eur", **native})
    assert back.values == {"invoice_address.city": "Berlin", "invoice_address.country": "DE", "currency": "EUR",
                           "billing_email": "ap@acme.example"}


def test_hubspot_properties_both_ways() -> None:
    hubspot = shipped_mapper("hubspot", "account")
    native = hubspot.to_native({"name": "Acme", "billing_address.city": "Lyon", "lifecycle_state": "active"},
                               create=False)
    assert native == {"properties": {"name": "Acme", "city": "Lyon", "lifecyclestage": "customer"}}
    record = {"id": "42", "archived": False, "createdAt": "2026-01-01T00:00:00Z",
              "properties": {"name": "Acme", "city": "Lyon", "hs_object_id": "42"}}
    assert hubspot.to_canonical(record).values == {"name": "Acme", "billing_address.city": "Lyon"}
    with pytest.raises(MappingError, match=r"hubspot/account@1: properties.numberofemployees: unknown field"):
        hubspot.to_canonical({"properties": {"numberofemployees": "12"}})


def test_salesforce_ignores_sobject_attributes() -> None:
    salesforce = shipped_mapper("salesforce", "account")
    record = {"attributes": {"type": "Account", "url": "/services/data/v60.0/sobjects/Account/001"}, "Id": "001",
              "Name": "Acme", "Type": "Mid-Market", "Credit_Status__c": "On Hold", "SystemModstamp": "x"}
    assert salesforce.to_canonical(record).values == {"name": "Acme", "segment": "mid_market",
                                                      "credit_status": "hold"}


@pytest.mark.parametrize("record", [{"id": "cus_1", "address": None}, {"id": "cus_1", "metadata": {}}])
def test_stripe_customer_with_empty_objects_maps(record: dict[str, Any]) -> None:
    # Stripe (and Concord's Stripe twin) returns "address": null and "metadata": {} for a fresh customer.
    result = shipped_mapper("stripe", "billing_account").to_canonical(record)
    assert all(v is None for v in result.values.values())


@pytest.mark.parametrize(("system", "entity", "values"), [
    ("stripe", "billing_account", {"account_id": "cus_1"}),
    ("zendesk", "account", {"lifecycle_state": "active", "credit_status": "ok"}),
    ("tryton", "account", {"phone": "+49 30 1", "website": "https://acme.example"}),
    ("hubspot", "account", {"lifecycle_state": "active"}),
])
def test_outbound_only_field_reported_back_is_accepted(system: str, entity: str, values: dict[str, Any]) -> None:
    m = shipped_mapper(system, entity)
    native = m.to_native(values, create=False)
    assert native  # the system now holds these fields and sends them with the record
    assert m.to_canonical(native).values == {}


def test_mapping_set_lookups() -> None:
    crm = make_spec()
    inbound_only = make_spec(system="erp", fields=[{"canonical": "name", "native": "n", "direction": "inbound"}])
    other = make_spec(system="billing", entity="contact", fields=[{"canonical": "email", "native": "e"}])
    mappings = MappingSet([inbound_only, other, crm], builtin_transforms())
    assert mappings.systems() == {"crm", "erp", "billing"}
    assert mappings.get("crm", "account") is not None and mappings.get("crm", "contact") is None
    assert [m.spec.system for m in mappings.targets("account")] == ["crm"]  # erp sends nothing outbound
    with pytest.raises(ConfigError, match="two mappings for system 'crm' entity 'account'"):
        MappingSet([crm, make_spec(version=4)], builtin_transforms())


def test_shipped_targets_are_stable() -> None:
    assert [m.spec.system for m in shipped().targets("account")] == ["hubspot", "salesforce", "tryton", "zendesk"]
