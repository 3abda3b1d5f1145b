"""Policy decision tables: first match wins, ranges and missing facts, versions, hot reload, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from concord.policy.rules import NoRuleMatched, PolicyFile, evaluate
from concord.policy.store import PolicyStore, policy_path
from concord.yamlconf import ConfigError

RULES = """
version: 7
tables:
  tier:
    - id: big
      when: {employees: {gte: 1000}}
      set: {tier: gold}
    - id: eu
      when: {country: [DE, FR]}
      set: {tier: silver}
    - id: unknown-size
      when: {employees: {missing: true}}
      set: {tier: review}
  strict:
    - id: only-us
      when: {country: [US]}
      set: {ok: true}
"""


def _store(tmp_path: Path, text: str = RULES) -> PolicyStore:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return PolicyStore(path)


def test_first_matching_rule_decides_and_names_rule_and_version(tmp_path: Path) -> None:
    store = _store(tmp_path)
    gold = store.decide("tier", {"employees": 5000, "country": "DE"})
    assert (gold.rule_id, gold.outputs) == ("big", {"tier": "gold"})
    assert gold.version.startswith("7:") and len(gold.version) == 10
    assert store.decide("tier", {"employees": 10, "country": "FR"}).rule_id == "eu"
    assert store.decide("tier", {"country": "IT"}).rule_id == "unknown-size"
    with pytest.raises(NoRuleMatched):
        store.decide("tier", {"employees": 10, "country": "IT"})
    with pytest.raises(NoRuleMatched):
        store.decide("strict", {})


def test_a_saved_edit_is_picked_up_without_restart_and_changes_the_version(tmp_path: Path) -> None:
    store = _store(tmp_path)
    before = store.decide("tier", {"employees": 5000})
    store.path.write_text(RULES.replace("tier: gold", "tier: platinum"), encoding="utf-8")
    os.utime(store.path, ns=(1, 10**18))  # a distinct mtime even within the filesystem's resolution
    after = store.decide("tier", {"employees": 5000})
    assert after.outputs == {"tier": "platinum"} and after.version != before.version


def test_a_broken_edit_keeps_the_last_good_policy_and_reports_the_problem(tmp_path: Path) -> None:
    store = _store(tmp_path)
    good = store.decide("tier", {"employees": 5000})
    store.path.write_text(RULES.replace("id: eu", "id: big"), encoding="utf-8")
    os.utime(store.path, ns=(1, 10**18))
    assert store.decide("tier", {"employees": 5000}) == good
    assert store.problem is not None and "used twice" in store.problem
    (tmp_path / "bad").mkdir()
    with pytest.raises(ConfigError):
        _store(tmp_path / "bad", "version: 0\ntables: {}\n")


def test_booleans_are_not_numbers_and_absent_facts_match_nothing_else() -> None:
    policy = PolicyFile.model_validate({"version": 1, "tables": {"t": [
        {"id": "n", "when": {"x": {"gte": 0}}, "set": {"r": 1}}, {"id": "d", "set": {"r": 0}}]}})
    assert evaluate(policy, "1", "t", {"x": True}).rule_id == "d"
    assert evaluate(policy, "1", "t", {}).rule_id == "d"
    assert evaluate(policy, "1", "t", {"x": 3}).rule_id == "n"


def test_the_bundled_policy_covers_every_table_onboarding_asks() -> None:
    store = PolicyStore(policy_path(None))
    facts = {"country": "GB", "employee_count": 40}
    assert store.decide("eligibility", facts).outputs["eligible"] is True
    assert store.decide("tax_region", facts).rule_id == "gb-vat"
    assert store.decide("territory", facts).outputs["territory"] == "EMEA"
    assert store.decide("classification", facts).outputs["segment"] == "smb"
    assert store.decide("credit_profile", {"segment": "smb"}).outputs["payment_terms"] == "Net 15"
    assert store.decide("eligibility", {"country": "KP"}).outputs["eligible"] is False
