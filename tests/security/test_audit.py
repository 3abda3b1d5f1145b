"""The audit chain: every entry linked to its predecessor; tampering with any one row is found."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from concord.cli.main import build
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.security import audit
from concord.storage.engine import make_engine, upgrade
from tests.security.conftest import TENANT_A, World
from tests.security.support import bearer


def _fill(engine: Engine, count: int = 5) -> None:
    with engine.begin() as conn:
        for i in range(count):
            audit.append(conn, audit.Entry(tenant="default", actor=f"user{i % 2}", action="task.resolved",
                                           object_type="task", object_id=f"t{i}", customer=f"c{i}",
                                           before={"status": "open"}, after={"status": "done", "n": i}))


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "'mallory'"), ("after", "'{\"status\":\"open\"}'"), ("at", "at + 1"), ("customer", "NULL"),
    ("action", "'task.created'"), ("tenant", "'acme-eu'"),
])
def test_altering_any_column_of_one_entry_is_detected(engine: Engine, column: str, value: str) -> None:
    _fill(engine)
    with engine.begin() as conn:
        assert audit.verify(conn).ok
        conn.execute(text(f"UPDATE audit_log SET {column} = {value} WHERE seq = 3"))
        verdict = audit.verify(conn)
    assert not verdict.ok and verdict.checked == 5
    assert verdict.problems == ["entry 3: content does not match its hash (altered)"]


def test_removing_an_entry_or_rehashing_it_is_detected(engine: Engine) -> None:
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
        assert audit.verify(conn).problems == ["entry 3: does not follow the previous entry (one was removed or "
                                               "inserted)"]
    _fill(engine, 1)  # and one recomputed after editing breaks the link of the next
    with engine.begin() as conn:
        row = dict(conn.execute(text("SELECT * FROM audit_log WHERE seq = 4")).mappings().one())
        row["actor"] = "mallory"
        conn.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 4"),
                     {"h": audit.entry_hash(row["prev_hash"], row)})
        problems = audit.verify(conn).problems
    assert "entry 5: does not follow the previous entry (one was removed or inserted)" in problems


def _change(i: int) -> ChangeCreate:
    return ChangeCreate(system="salesforce", entity="account", external_id=f"001{i:04d}", fields={"Name": f"C{i}"},
                        source_ts=datetime(2026, 3, 1, tzinfo=UTC), idempotency_key=f"k{i}")


def test_ingest_batches_are_sealed_and_a_changed_change_log_row_is_detected(
        engine: Engine, ingest: IngestService) -> None:
    ingest.ingest([_change(i) for i in range(20)])
    ingest.ingest([_change(i) for i in range(20, 25)])
    with engine.begin() as conn:
        seals = conn.execute(text("SELECT after FROM audit_log WHERE action = 'ingest.batch'")).scalars().all()
        assert sum(len(orjson.loads(s)["changes"]) for s in seals) == 25
        assert audit.verify(conn).ok
        conn.execute(text("UPDATE change_log SET payload = '{\"Name\":\"Forged\"}' WHERE external_id = '0010007'"))
        verdict = audit.verify(conn)
    assert not verdict.ok
    assert verdict.problems[0].endswith("a change_log row sealed by this batch was altered")


def test_cli_verify_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    _fill(engine, 3)
    runner = CliRunner()
    env = {"CONCORD_DATABASE_URL": url}
    ok = runner.invoke(build(), ["audit", "verify"], env=env)
    assert ok.exit_code == 0 and "3 entries" in ok.output
    out = tmp_path / "audit.jsonl"
    assert runner.invoke(build(), ["audit", "export", "--out", str(out)], env=env).exit_code == 0
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [e["object_id"] for e in lines] == ["t0", "t1", "t2"]
    assert lines[1]["prev_hash"] == lines[0]["hash"] and lines[2]["after"] == {"status": "done", "n": 2}
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET object_id = 't9' WHERE seq = 2"))
    engine.dispose()
    bad = runner.invoke(build(), ["audit", "verify"], env=env)
    assert bad.exit_code == 1 and "entry 2" in bad.output


def test_audit_api_filters_and_stays_in_tenant(world: World) -> None:
    a = bearer(world.admin_a)
    customer = world.ids["customer_id"]
    history = world.client.get("/api/v1/audit", params={"customer": customer}, headers=a).json()
    assert {e["source"] for e in history} == {"change_log"}
    assert {e["system"] for e in history} == {"salesforce", "zendesk"}
    assert all(e["tenant"] == TENANT_A for e in history)
    by_actor = world.client.get("/api/v1/audit", params={"actor": "test"}, headers=a).json()
    assert by_actor and all(e["actor"] == "test" and e["action"].startswith("key.") for e in by_actor)
    only_zendesk = world.client.get("/api/v1/audit", params={"customer": customer, "system": "zendesk"},
                                    headers=a).json()
    assert [e["system"] for e in only_zendesk] == ["zendesk"]
    hub = world.client.get("/api/v1/audit/verify", headers=bearer(world.hub_admin)).json()
    assert hub["ok"] is True and hub["checked"] > 0
    assert world.client.get("/api/v1/audit/verify", headers=a).status_code == 403


def test_a_seal_digest_is_the_per_row_hash_it_always_was() -> None:
    """Stored seals were computed one hash update per row over a list of the sealed columns; the batched digest
    (decision 074) must give the same hex for the same rows, or every existing seal would read as altered."""
    from hashlib import sha256

    from concord.security.sealing import SEALED_COLUMNS, digest

    rows = [{c: f"{c}-{i}-é\"\\" for c in SEALED_COLUMNS} | {"extra": i} for i in range(5)]
    rows[1]["payload"] = '{"Name":"x\\u0000"}'
    expected = sha256()
    for row in rows:
        expected.update(orjson.dumps([row[c] for c in SEALED_COLUMNS]))
    assert digest(rows) == expected.hexdigest()
    assert digest([]) == sha256().hexdigest()


def test_a_seal_of_the_writers_tuple_rows_equals_the_seal_of_the_same_rows_as_dicts() -> None:
    """The ingest writer seals its change-log rows as tuples by position (decision 091); merges seal dict rows,
    and `check_seal` recomputes the digest from dicts read back: all three must agree on every entry."""
    from concord.security.sealing import digest, seals
    from concord.storage.repository import CHANGE_LOG_COLUMNS

    rows = [{c: f"{c}-{i}" for c in CHANGE_LOG_COLUMNS} | {"tenant": ("t-b", "t-a")[i % 2], "rejected": i,
                                                           "system": ("crm", "erp")[i % 3 == 0]} for i in range(7)]
    from_tuples = seals([tuple(row[c] for c in CHANGE_LOG_COLUMNS) for row in rows])
    assert [e.tenant for e in from_tuples] == ["t-a", "t-b"]
    for entry in from_tuples:
        mine = [row for row in rows if row["tenant"] == entry.tenant]
        assert entry.after == {"changes": [r["change_id"] for r in mine], "digest": digest(mine)}
        assert (entry.object_id, entry.correlation_id) == (mine[0]["change_id"], mine[0]["correlation_id"])
        assert entry.system == (mine[0]["system"] if len({r["system"] for r in mine}) == 1 else None)


def test_a_forked_chain_head_is_sqlalchemys_integrity_error(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """append_many talks to the driver (decision 074); a second writer that read the same head must still fail
    as IntegrityError, the class callers retry on, and leave the chain as it was."""
    from sqlalchemy.exc import IntegrityError

    entry = audit.Entry(tenant="default", actor="a", action="x", object_type="t", object_id="1")
    with engine.begin() as conn:
        assert audit.head(conn) == audit.GENESIS
        first = audit.append(conn, entry, now=1.0)
        assert audit.head(conn) == first
    monkeypatch.setattr(audit, "head", lambda _conn: audit.GENESIS)  # a writer that read the head before `first`
    with pytest.raises(IntegrityError), engine.begin() as conn:
        audit.append(conn, entry, now=2.0)
    monkeypatch.undo()
    with engine.connect() as conn:
        assert audit.head(conn) == first and audit.verify(conn).checked == 1
