"""Comparators, Fellegi-Sunter weights, EM and training from labelled pairs, and decisions with evidence."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from concord.matching import compare as c
from concord.matching.decision import MatchSettings, Outcome, decide
from concord.matching.keys import exact_keys
from concord.matching.model import FieldParams, FSModel, expectation_maximisation, train
from concord.matching.specs import CONTACT


def test_comparators_grade_from_exact_down_to_different() -> None:
    jw = c.fuzzy_text("surname")
    assert jw("smith", "smith") == 3
    assert jw("jonathan", "jonathon") == 2
    assert jw("smith", "smyth") == 1
    assert jw("smith", "jones") == 0
    assert jw("", "smith") == c.MISSING
    digits = c.edit_distance("ssn")
    assert (digits("1234567", "1234567"), digits("1234567", "1243567"), digits("1234567", "7654321")) == (2, 1, 0)
    dob = c.date("dob")
    assert (dob("19800512", "19801205"), dob("19800512", "19800513"), dob("19800512", "19751111")) == (1, 2, 0)
    name = c.company("name")
    assert name("acme logistics", "logistics acme") == 3
    assert name("acme logistics", "acme foods") < 2
    assert c.any_shared("tax")("DE1|GB2", "GB2") == 1


def _simulated(rng: np.random.Generator, n_match: int, n_non: int) -> tuple[np.ndarray, np.ndarray]:
    """Two binary fields: matches agree 90% / 80% of the time, non-matches 5% / 10%."""
    match = np.column_stack([rng.random(n_match) < 0.9, rng.random(n_match) < 0.8])
    non = np.column_stack([rng.random(n_non) < 0.05, rng.random(n_non) < 0.1])
    gammas = np.vstack([match, non]).astype(np.int8)
    return gammas, np.r_[np.ones(n_match, bool), np.zeros(n_non, bool)]


def test_training_from_labels_recovers_m_and_u() -> None:
    gammas, labels = _simulated(np.random.default_rng(1), 4000, 16000)
    model = train((c.exact("a"), c.exact("b")), gammas, labels)
    assert model.params[0].m[1] == pytest.approx(0.9, abs=0.02)
    assert model.params[1].u[1] == pytest.approx(0.1, abs=0.01)
    assert model.prior == pytest.approx(0.2)


def test_em_estimates_m_without_labels_when_u_is_known() -> None:
    gammas, _ = _simulated(np.random.default_rng(2), 3000, 7000)
    cmps = (c.exact("a"), c.exact("b"), c.exact("c"))
    third = (np.random.default_rng(3).random(len(gammas)) < np.r_[np.full(3000, 0.85), np.full(7000, 0.02)])
    gammas = np.column_stack([gammas, third]).astype(np.int8)
    start = [FieldParams([0.5, 0.5], [0.95, 0.05]), FieldParams([0.5, 0.5], [0.9, 0.1]),
             FieldParams([0.5, 0.5], [0.98, 0.02])]
    model = expectation_maximisation(FSModel(cmps, start, prior=0.5), gammas)
    assert model.prior == pytest.approx(0.3, abs=0.03)
    assert model.params[0].m[1] == pytest.approx(0.9, abs=0.04)
    assert model.params[2].m[1] == pytest.approx(0.85, abs=0.04)


def test_a_decision_records_its_score_and_the_evidence_of_every_field() -> None:
    model, settings = CONTACT.model(), MatchSettings()
    left = CONTACT.project({"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.io", "account_id": "a1"})
    right = CONTACT.project({"first_name": "Jane", "last_name": "Doe", "email": "JANE@acme.io", "account_id": "a1"})
    d = decide(model, settings, "c1", left, "c2", right)
    assert d.outcome is Outcome.LINK
    assert d.score == pytest.approx(sum(e.weight for e in d.evidence))
    body = d.to_json()
    assert [e["field"] for e in body["evidence"]] == ["first_name", "last_name", "email", "phone", "account_id"]
    assert body["evidence"][3] == {"field": "phone", "left": "", "right": "", "level": "missing", "weight": 0.0}
    other = CONTACT.project({"first_name": "John", "last_name": "Smith", "email": "js@other.com"})
    assert decide(model, settings, "c1", left, "c3", other).outcome is Outcome.NEW


def test_thresholds_are_ordered() -> None:
    with pytest.raises(ValidationError):
        MatchSettings(link_threshold=1.0, review_threshold=2.0)
    s = MatchSettings(link_threshold=10, review_threshold=3)
    assert [s.outcome(x) for x in (11, 10, 5, 2)] == [Outcome.LINK, Outcome.LINK, Outcome.REVIEW, Outcome.NEW]


def test_exact_keys_api_is_unchanged() -> None:
    keys = exact_keys("account", {"erp_customer_number": "C-1", "domain": "https://www.Acme.com/x",
                                  "tax_profile.tax_ids": [{"type": "eu_vat", "value": "de 123.456"}]})
    assert keys == ["erp:C-1", "domain:acme.com", "tax:eu_vat:DE123456"]
    assert exact_keys("contact", {"email": " A@B.com "}) == ["email:a@b.com"]
