"""Ownership rules: pattern specificity, tenant overrides, validation, and the bundled policy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from concord.canonical.fields import field_catalog
from concord.canonical.models import ENTITY_TYPES
from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ownership.policy import FieldRule, OwnershipMode, OwnershipPolicy, RuleIndex
from tests.ownership.policies import policy_document


def document(**account: Any) -> dict[str, Any]:
    doc = policy_document()
    doc["entities"]["account"] = {"*": {"owner": "crm"}, **account}
    return doc


def test_exact_path_beats_wildcards_and_longer_wildcard_beats_shorter() -> None:
    policy = OwnershipPolicy.model_validate(document(**{
        "billing_address.*": {"owner": "erp"}, "billing_address.c*": {"owner": "billing", "mode": "approval"},
        "billing_address.city": {"owner": "support", "mode": "fill_if_empty"}}))
    assert policy.rule_for("t", "account", "billing_address.city") == FieldRule(owner="support",
                                                                                 mode=OwnershipMode.FILL_IF_EMPTY)
    assert policy.rule_for("t", "account", "billing_address.country").owner == "billing"
    assert policy.rule_for("t", "account", "billing_address.line1").owner == "erp"
    assert policy.rule_for("t", "account", "name") == FieldRule(owner="crm", mode=OwnershipMode.OWNER_ONLY)


def test_tenant_rules_override_entity_rules() -> None:
    doc = document(name={"owner": "crm"})
    doc["tenants"] = {"eu": {"account": {"name": {"owner": "hubspot", "mode": "approval"}}}}
    policy = OwnershipPolicy.model_validate(doc)
    assert policy.rule_for("eu", "account", "name").owner == "hubspot"
    assert policy.rule_for("eu", "account", "phone").owner == "crm"  # not overridden: entity rule
    assert policy.rule_for("us", "account", "name").owner == "crm"
    assert policy.owners() == {"crm", "hubspot"}


def test_rule_index_memoises_and_agrees_with_the_policy() -> None:
    policy = OwnershipPolicy.model_validate(policy_document())
    index = RuleIndex(policy)
    for entity in ENTITY_TYPES:
        for path in field_catalog(entity):
            assert index.rule_for("t", entity, path) == policy.rule_for("t", entity, path)
    assert index.rule_for("t", "account", "name") is index.rule_for("t", "account", "name")


def test_unknown_entity_has_no_rule() -> None:
    with pytest.raises(KeyError, match=r"no ownership rule for lead\.name"):
        OwnershipPolicy.model_validate(policy_document()).rule_for("t", "lead", "name")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["entities"].update(lead={"*": {"owner": "crm"}}), "entities.lead: unknown entity"),
    (lambda d: d["entities"]["account"].update(nmae={"owner": "crm"}), "entities.account.nmae: matches no field"),
    (lambda d: d["entities"]["account"].update({"shipping.*": {"owner": "crm"}}), "entities.account.shipping.*"),
    (lambda d: d.update(tenants={"eu": {"account": {"nmae": {"owner": "x"}}}}), "tenants.eu.account.nmae"),
    (lambda d: d["entities"].pop("contract"), "entities.contract: no rule covers account_id, name, number"),
    (lambda d: d["entities"].update(contact={"email": {"owner": "crm"}}), "entities.contact: no rule covers"),
    (lambda d: d["entities"]["account"].update(name={"owner": "crm", "mode": "sometimes"}), "owner_only"),
    (lambda d: d["entities"]["account"].update(name={"owner": ""}), "at least 1 character"),
    (lambda d: d.update(version=0), "greater than or equal to 1"),
])
def test_invalid_policies_are_refused_naming_the_rule(mutate: Any, message: str) -> None:
    doc = policy_document()
    mutate(doc)
    with pytest.raises(ValidationError, match=message.replace("*", r"\*").replace(".", r"\.")):
        OwnershipPolicy.model_validate(doc)


def test_bundled_policy_owners_are_known_systems(runtime: Runtime) -> None:
    unknown = runtime.ownership.owners() - set(runtime.hub.systems) - INTERNAL_SYSTEMS
    assert unknown == set()


@pytest.mark.parametrize(("path", "owner", "mode"), [
    ("name", "salesforce", "approval"), ("domain", "salesforce", "fill_if_empty"),
    ("industry", "salesforce", "owner_only"), ("shipping_address.city", "salesforce", "fill_if_empty"),
    ("legal_name", "tryton", "owner_only"), ("billing_address.country", "tryton", "owner_only"),
    ("tax_profile.tax_ids", "tryton", "owner_only"), ("credit_limit", "tryton", "owner_only"),
    ("lifecycle_state", "concord", "owner_only"), ("employee_count", "salesforce", "owner_only"),
])
def test_bundled_account_rules_for_default_tenant(runtime: Runtime, path: str, owner: str, mode: str) -> None:
    assert runtime.rules.rule_for("default", "account", path) == FieldRule(owner=owner, mode=OwnershipMode(mode))


def test_bundled_tenant_override_moves_crm_fields_to_hubspot(runtime: Runtime) -> None:
    for path in ("name", "domain", "industry", "annual_revenue", "sales_owner"):
        assert runtime.rules.rule_for("acme-eu", "account", path).owner == "hubspot"
    assert runtime.rules.rule_for("acme-eu", "contact", "email") == FieldRule(owner="hubspot",
                                                                             mode=OwnershipMode.APPROVAL)


@pytest.mark.parametrize(("path", "owner"), [("lifecycle_state", "concord"), ("legal_name", "tryton"),
                                             ("credit_status", "tryton"), ("billing_address.city", "tryton")])
def test_bundled_tenant_override_keeps_erp_and_workflow_ownership(runtime: Runtime, path: str, owner: str) -> None:
    # acme-eu syncs with tryton as its ERP; Concord's workflows move every customer's lifecycle.
    assert runtime.rules.rule_for("acme-eu", "account", path).owner == owner
