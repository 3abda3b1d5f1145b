"""The online duplicate check is built once and follows the change log: what another process commits (a new
customer, a merge) is seen on the next check without a rebuild, and a rolled-back write is forgotten."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import Engine, insert

from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.matching.decision import Outcome
from concord.matching.follow import ChangeFeed
from concord.matching.merging import merge
from concord.matching.store import DuplicateChecker
from concord.storage import tables as t
from concord.workflows.duplicates import MatcherDuplicateCheck
from tests.factories import change

ACME = {"name": "Acme Logistics GmbH", "phone": "+49 30 1234567", "website": "https://www.acme-logistics.de",
        "shipping_address.line1": "12 Market Street", "shipping_address.city": "Berlin",
        "shipping_address.postal_code": "10115", "shipping_address.country": "DE"}
SF_ACME = {"Name": "Acme Logistics GmbH", "Phone": "+49 30 1234567", "Website": "https://www.acme-logistics.de",
           "ShippingStreet": "12 Market Street", "ShippingCity": "Berlin", "ShippingPostalCode": "10115",
           "ShippingCountry": "DE"}
SF_ZORBEL = {"Name": "Zorbel Foods Ltd", "Phone": "+44 113 496 0000", "Website": "https://zorbel.example",
             "ShippingCity": "Leeds", "ShippingPostalCode": "LS1 4AP", "ShippingCountry": "GB"}

OTHER_PROCESS = """
import sys
from concord.hubconfig import load_runtime
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine
from tests.factories import change
engine = make_engine(sys.argv[1])
service = IngestService(engine, load_runtime(None), online_check=False)
service.start()
[result] = service.ingest([change("salesforce", "001A", {fields}, key="from-another-process")])
service.stop()
print(result.canonical_id)
"""


def ingest_elsewhere(url: str, fields: dict[str, Any]) -> str:
    """Create a customer from a separate OS process, as another ingest worker would."""
    done = subprocess.run([sys.executable, "-c", OTHER_PROCESS.replace("{fields}", repr(fields)), url],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=True)
    return done.stdout.strip().splitlines()[-1]


def created(service: IngestService, external_id: str, fields: dict[str, Any]) -> str:
    [result] = service.ingest([change("salesforce", external_id, fields)])
    assert isinstance(result, ChangePublic) and result.created
    return result.canonical_id


def test_onboarding_check_sees_a_customer_another_process_created_without_a_rebuild(
        engine: Engine, database_url: str, ingest: IngestService) -> None:
    created(ingest, "001Z", SF_ZORBEL)
    check = MatcherDuplicateCheck(engine)
    assert check.candidates("default", "account", "new-1", ACME) == []
    assert check.checker.full_builds == 1
    acme = ingest_elsewhere(database_url, SF_ACME)
    found = check.candidates("default", "account", "new-2", ACME)
    assert [c.canonical_id for c in found] == [acme]
    assert check.candidates("default", "account", "new-3", {**ACME, "name": "ACME Logistics"})[0].canonical_id == acme
    assert check.checker.full_builds == 1  # followed the log: never rebuilt


def test_a_merge_elsewhere_drops_the_absorbed_record_from_the_index(engine: Engine, ingest: IngestService) -> None:
    keep = created(ingest, "001Z", SF_ZORBEL)
    gone = created(ingest, "001A", SF_ACME)
    checker = DuplicateChecker(entities=frozenset({"account"}))
    with engine.connect() as conn:
        result = checker.check(conn, "default", "account", ACME)
    assert result is not None and result.best is not None and result.best.right_id == gone
    with engine.begin() as conn:  # another session: a steward merges the two
        merge(conn, "default", keep, gone, "steward")
    with engine.connect() as conn:
        after = checker.check(conn, "default", "account", ACME)
    assert after is not None and gone not in {c.right_id for c in after.candidates}
    assert gone not in checker.indexes[("default", "account")].rows and checker.full_builds == 1


def test_a_rolled_back_write_is_forgotten_and_a_committed_one_kept(engine: Engine, ingest: IngestService) -> None:
    created(ingest, "001Z", SF_ZORBEL)
    checker = DuplicateChecker(entities=frozenset({"account"}))
    with engine.connect() as conn:
        assert checker.check(conn, "default", "account", ACME) is not None
        checker.updated("default", "account", "ghost", ACME)  # reported by a batch ...
        result = checker.check(conn, "default", "account", ACME)
        assert result is not None and result.outcome is Outcome.LINK and result.candidates[0].right_id == "ghost"
        checker.forget()  # ... that rolled back
        result = checker.check(conn, "default", "account", ACME)
        assert result is not None and result.candidates == ()
    assert checker.full_builds == 1 and not checker.touched and not checker.suspect


def _log_row(seq: int) -> dict[str, Any]:
    return {"seq": seq, "change_id": f"c{seq}", "tenant": "default", "idempotency_key": f"k{seq}",
            "correlation_id": "x", "system": "salesforce", "entity": "account", "external_id": f"e{seq}",
            "canonical_id": f"cus{seq}", "source_ts_us": 0, "received_at": time.time(), "mapping_version": None,
            "status": "applied", "rejected": 0, "pending": 0, "payload": "{}", "decision": "{}"}


def test_a_sequence_value_committed_late_is_still_read(engine: Engine) -> None:
    feed = ChangeFeed(grace=30.0)
    with engine.begin() as conn:
        feed.start(conn)
        conn.execute(insert(t.change_log), [_log_row(1), _log_row(3)])  # 2 is still in flight elsewhere
        assert [n[2] for n in feed.read(conn, now=100.0)] == ["cus1", "cus3"]
        assert set(feed.gaps) == {2}
        conn.execute(insert(t.change_log), [_log_row(2), _log_row(4)])
        assert [n[2] for n in feed.read(conn, now=110.0)] == ["cus2", "cus4"]
        assert feed.gaps == {}
        conn.execute(insert(t.change_log), [_log_row(6)])  # 5 rolled back: given up after the grace period
        feed.read(conn, now=120.0)
        assert set(feed.gaps) == {5}
        assert feed.read(conn, now=151.0) == [] and feed.gaps == {}
