"""The store adapter and `concord dedupe`: golden records in, index and review queue out (SQLite and, marked,
PostgreSQL through the shared `engine` fixture)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import typer
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
from concord.matching.cli import dedupe
from concord.matching.decision import MatchSettings, Outcome
from concord.matching.index import MatchIndex
from concord.matching.specs import ACCOUNT
from concord.matching.store import (
    DuplicateChecker,
    golden_values,
    load_index,
    pending_reviews,
    save_reviews,
    steward_model,
)
from concord.matching.tables import match_reviews
from concord.storage import tables as t
from concord.storage.engine import make_engine, upgrade

ACME: dict[str, Any] = {"name": "Acme Logistics GmbH", "domain": "acme-logistics.de", "legal_address.city": "Berlin",
        "legal_address.postal_code": "10115", "legal_address.country": "DE",
        "tax_profile.tax_ids": [{"type": "eu_vat", "value": "DE123456789", "country": "DE"}]}
# Shares only a near-identical name and the town with ACME: a steward's call, never an automatic merge.
ACME_MAYBE: dict[str, Any] = {"name": "ACME Logistik", "legal_address.city": "Berlin",
                              "legal_address.postal_code": "10115", "legal_address.country": "DE"}
ACME_AGAIN = {**ACME, "name": "ACME Logistics G.m.b.H.", "domain": "https://www.acme-logistics.de"}
GLOBEX: dict[str, Any] = {"name": "Globex Corporation", "domain": "globex.com", "legal_address.country": "US"}


def _store(engine: Engine, records: dict[str, dict[str, Any]], tenant: str = "default") -> None:
    prov = Provenance("salesforce", 1, "chg-1")
    rows = []
    for cid, values in records.items():
        golden = GoldenRecord(tenant, "account", cid, 1, {p: FieldValue(v, prov, True) for p, v in values.items()})
        rows.append({"id": cid, "tenant": tenant, "entity": "account", "version": 1, "lifecycle_state": None,
                     "data": orjson.dumps(golden.to_json()).decode(), "created_at": time.time(),
                     "updated_at": time.time()})
    with engine.begin() as conn:
        conn.execute(insert(t.golden_records), rows)


def test_the_index_loads_from_golden_records_of_one_tenant(engine: Engine) -> None:
    _store(engine, {"cus-1": ACME, "cus-2": GLOBEX})
    _store(engine, {"cus-9": ACME}, tenant="other")
    with engine.connect() as conn:
        assert dict(golden_values(conn, "default", "account"))["cus-2"]["domain"] == "globex.com"
        index = load_index(conn, "default", "account")
    assert sorted(index.rows) == ["cus-1", "cus-2"]
    result = index.check(ACME_AGAIN)
    assert result.outcome is Outcome.LINK and result.best is not None and result.best.right_id == "cus-1"


def test_review_queue_keeps_score_and_evidence_and_ignores_repeats(engine: Engine) -> None:
    _store(engine, {"cus-1": ACME, "cus-2": ACME_MAYBE})
    with engine.connect() as conn:
        index = load_index(conn, "default", "account")
    found = index.check(ACME_MAYBE, exclude="cus-2")
    assert found.outcome is Outcome.REVIEW and found.best is not None
    decision = found.best.with_outcome(Outcome.REVIEW, "")
    pair = type(decision)("cus-2", "cus-1", decision.score, decision.outcome, decision.evidence)
    with engine.begin() as conn:
        assert save_reviews(conn, "default", "account", [pair], "online", now=5.0) == 1
        assert save_reviews(conn, "default", "account", [pair], "online") == 0
    with engine.connect() as conn:
        [row] = pending_reviews(conn, "default", "account")
    assert (row["left_id"], row["right_id"], row["status"], row["created_at"]) == ("cus-1", "cus-2", "pending", 5.0)
    assert row["score"] == decision.score
    assert {e["field"] for e in row["evidence"]} >= {"name", "city", "postcode"}


def test_dedupe_command_reports_clusters_and_queues_reviews(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    _store(engine, {"cus-1": ACME, "cus-2": ACME_AGAIN, "cus-3": ACME_MAYBE, "cus-4": GLOBEX})
    app = typer.Typer()
    app.command()(dedupe)
    result = CliRunner().invoke(app, ["--report"], env={"CONCORD_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())
    assert "4accountrecords" in flat and "1clusters" in flat and "cus-1,cus-2" in flat
    with engine.connect() as conn:
        queued = pending_reviews(conn, "default", "account")
    assert {frozenset((r["left_id"], r["right_id"])) for r in queued} <= {frozenset(("cus-1", "cus-3")),
                                                                            frozenset(("cus-2", "cus-3"))}
    assert queued
    again = CliRunner().invoke(app, [], env={"CONCORD_DATABASE_URL": url})  # a rerun queues nothing twice
    assert again.exit_code == 0 and "(0newlyqueued)" in "".join(again.output.split())
    bad = CliRunner().invoke(app, ["--entity", "invoice"], env={"CONCORD_DATABASE_URL": url})
    assert bad.exit_code == 2
    engine.dispose()


def test_steward_verdicts_train_the_model(engine: Engine) -> None:
    index = load_index_for_tests()
    same = index.check(ACME_AGAIN).candidates[0]
    different = index.check(ACME_MAYBE).candidates[0]
    pairs = [type(same)(f"a{i}", f"b{i}", same.score, same.outcome, same.evidence) for i in range(25)]
    pairs += [type(different)(f"c{i}", f"d{i}", different.score, different.outcome, different.evidence)
              for i in range(25)]
    with engine.begin() as conn:
        assert steward_model(conn, "default", "account") is None
        save_reviews(conn, "default", "account", pairs, "online")
        m = match_reviews.c
        conn.execute(update(match_reviews).where(m.left_id.like("a%")).values(status="same"))
        assert steward_model(conn, "default", "account") is None  # no "different" verdicts yet
        conn.execute(update(match_reviews).where(m.left_id.like("c%")).values(status="different"))
        model = steward_model(conn, "default", "account")
    assert model is not None and model.prior == 0.5
    name = [c.field for c in model.comparators].index("name")
    assert model.weights[name][-1] > 5  # every "same" pair had the exact name; no "different" pair did
    seen = next(e.level for e in different.evidence if e.field == "name")
    assert model.weights[name][model.comparators[name].labels.index(seen)] < 0
    with engine.connect() as conn:  # the online index is rebuilt with the steward's model, not the EM estimate
        assert load_index(conn, "default", "account").model.weights == model.weights


def load_index_for_tests() -> MatchIndex:
    index = MatchIndex(ACCOUNT, ACCOUNT.model(), MatchSettings())
    index.upsert("cus-1", ACME)
    return index


def test_duplicate_checker_loads_once_and_follows_updates(engine: Engine) -> None:
    _store(engine, {"cus-1": ACME})
    checker = DuplicateChecker()
    with engine.connect() as conn:
        first = checker.check(conn, "default", "account", ACME_AGAIN)
        assert first is not None and first.outcome is Outcome.LINK
        assert checker.check(conn, "default", "subscription", {}) is None
        checker.updated("default", "account", "cus-2", GLOBEX)
        checker.updated("other", "account", "cus-3", GLOBEX)  # not loaded: nothing to keep current
        found = checker.check(conn, "default", "account", GLOBEX)
        assert found is not None and found.best is not None and found.best.right_id == "cus-2"
        checker.removed("default", "account", "cus-2")
        gone = checker.check(conn, "default", "account", GLOBEX)
        assert gone is not None and gone.outcome is Outcome.NEW
    assert list(checker.indexes) == [("default", "account")]
