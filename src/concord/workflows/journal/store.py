"""The journal's tables and statements: runs, their steps (one row per step, appended once), and messages.

A step row is the whole record of a step: its name, pickled result or error. A fresh run never reads its
journal (there is nothing in it); a recovered run reads it once, at start. Appends use ON CONFLICT DO NOTHING
on (workflow id, sequence): if two processes ever execute the same run, the first recorded outcome of each
step wins and the second reads it back, so both continue on the same history.

On SQLite the tables live in the workflow system database file (next to Concord's); on PostgreSQL in the
Concord database under the `concord_workflows` schema. The schema is created here, versioned by
`SCHEMA_VERSION` in a one-row table (this store is not part of Concord's Alembic history: its database is
the workflow system database, which may be a different file).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from concord.workflows.journal.db import JournalDb

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x636F6E77  # "conw": the advisory lock key creating the schema on PostgreSQL
PENDING, SUCCESS, ERROR = "PENDING", "SUCCESS", "ERROR"
EXHAUSTED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
_RUN_COLUMNS = ("workflow_id, name, status, parent_id, executor_id, input, output, error, recovery_attempts, "
                "created_at, updated_at")


@dataclass(frozen=True)
class RunRow:
    workflow_id: str
    name: str
    status: str
    parent_id: str | None
    executor_id: str
    input: bytes
    output: bytes | None
    error: bytes | None
    recovery_attempts: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ExecutorRow:
    executor_id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float


@dataclass(frozen=True)
class StepRow:
    seq: int
    name: str
    output: bytes | None
    error: bytes | None
    at: float


def _tables(dialect: str) -> dict[str, str]:
    if dialect == "postgresql":
        return {"run": "concord_workflows.run", "step": "concord_workflows.step",
                "message": "concord_workflows.message", "meta": "concord_workflows.meta",
                "executor": "concord_workflows.executor"}
    return {"run": "wf_run", "step": "wf_step", "message": "wf_message", "meta": "wf_meta", "executor": "wf_executor"}


def _ddl(dialect: str, t: dict[str, str]) -> list[str]:
    blob, real = ("BYTEA", "DOUBLE PRECISION") if dialect == "postgresql" else ("BLOB", "REAL")
    serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if dialect == "postgresql" else \
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    schema = ["CREATE SCHEMA IF NOT EXISTS concord_workflows"] if dialect == "postgresql" else []
    return [*schema,
        f"CREATE TABLE IF NOT EXISTS {t['meta']} (version INTEGER NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['run']} (workflow_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        f"status TEXT NOT NULL, parent_id TEXT, tenant TEXT, executor_id TEXT NOT NULL, input {blob} NOT NULL, "
        f"output {blob}, error {blob}, recovery_attempts INTEGER NOT NULL DEFAULT 0, "
        f"progress INTEGER NOT NULL DEFAULT 0, created_at {real} NOT NULL, "
        f"updated_at {real} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS wf_run_status ON {t['run']} (status, executor_id)",
        f"CREATE INDEX IF NOT EXISTS wf_run_parent ON {t['run']} (parent_id)",
        f"CREATE TABLE IF NOT EXISTS {t['step']} (workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, "
        f"name TEXT NOT NULL, output {blob}, error {blob}, at {real} NOT NULL, PRIMARY KEY (workflow_id, seq))",
        f"CREATE TABLE IF NOT EXISTS {t['message']} (id {serial}, destination TEXT NOT NULL, topic TEXT NOT NULL, "
        f"body {blob} NOT NULL, sent_at {real} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS wf_message_inbox ON {t['message']} (destination, topic, id)",
        f"CREATE TABLE IF NOT EXISTS {t['executor']} (executor_id TEXT PRIMARY KEY, host TEXT NOT NULL, "
        f"pid INTEGER NOT NULL, started_at {real} NOT NULL, heartbeat_at {real} NOT NULL)",
    ]


class JournalStore:
    """Every statement the executor runs, on either database."""

    def __init__(self, db: JournalDb) -> None:
        self.db = db
        self.t = _tables(db.dialect)

    def create_schema(self) -> None:
        """Tables and version in one transaction. On PostgreSQL an advisory lock serialises two processes
        launching at once (CREATE … IF NOT EXISTS alone races there); SQLite's BEGIN IMMEDIATE already does."""
        meta = self.t["meta"]

        def unit(cur: Any) -> int:
            if self.db.dialect == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            for statement in _ddl(self.db.dialect, self.t):
                cur.execute(statement)
            cur.execute(f"INSERT INTO {meta} (version) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM {meta})",
                        (SCHEMA_VERSION,))
            return int(cur.execute(f"SELECT max(version) FROM {meta}").fetchone()[0])

        found = self.db.write(unit)
        if found > SCHEMA_VERSION:
            raise RuntimeError(f"the workflow journal has schema version {found}; this Concord knows "
                               f"{SCHEMA_VERSION}: upgrade Concord")

    def exists(self) -> bool:
        """Whether the journal's tables are there (a CLI may look before any worker ever ran)."""
        try:
            self.db.read(f"SELECT 1 FROM {self.t['meta']} LIMIT 1", ())
        except Exception:
            return False
        return True

    def legacy_pending(self) -> int:
        """Runs DBOS left pending in this database before decision 081 (the journal cannot resume them)."""
        table = "dbos.workflow_status" if self.db.dialect == "postgresql" else "workflow_status"
        try:
            rows = self.db.read(f"SELECT count(*) FROM {table} WHERE status = 'PENDING'", ())
        except Exception:
            return 0
        return int(rows[0][0])

    # -- runs ----------------------------------------------------------------------------------------------
    def insert_run(self, workflow_id: str, name: str, payload: bytes, parent_id: str | None,
                   executor_id: str, tenant: str | None = None) -> bool:
        """Create the run; False when the id is taken (the business key already has a run)."""
        now = time.time()
        sql = (f"INSERT INTO {self.t['run']} (workflow_id, name, status, parent_id, tenant, executor_id, input, "
               f"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        params = (workflow_id, name, PENDING, parent_id, tenant, executor_id, payload, now, now)
        return bool(self.db.write(lambda cur: cur.execute(sql, params).rowcount))

    def finish_run(self, workflow_id: str, status: str, output: bytes | None, error: bytes | None) -> bool:
        """Record the run's outcome (False: it was no longer pending — another executor finished it, or it was
        given up); its unread messages go with it (nobody will receive them)."""
        run_sql = (f"UPDATE {self.t['run']} SET status = ?, output = ?, error = ?, updated_at = ? "
                   f"WHERE workflow_id = ? AND status = ?")
        inbox_sql = f"DELETE FROM {self.t['message']} WHERE destination = ?"

        def unit(cur: Any) -> bool:
            done = cur.execute(run_sql, (status, output, error, time.time(), workflow_id, PENDING)).rowcount
            cur.execute(inbox_sql, (workflow_id,))
            return bool(done)

        return self.db.write(unit)

    def run(self, workflow_id: str) -> RunRow | None:
        rows = self.db.read(f"SELECT {_RUN_COLUMNS} FROM {self.t['run']} WHERE workflow_id = ?", (workflow_id,))
        return _run_row(rows[0]) if rows else None

    def runs(self, statuses: Sequence[str] | None = None, prefixes: Sequence[str] | None = None,
             name: str | None = None, limit: int = 1000, tenant: str | None = None) -> list[RunRow]:
        where: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if prefixes is not None:
            if not prefixes:
                return []
            # substr, not LIKE: LIKE is case-insensitive on SQLite and `_`/`%` occur in ids.
            where.append("(" + " OR ".join("substr(workflow_id, 1, ?) = ?" for _ in prefixes) + ")")
            for prefix in prefixes:
                params.extend((len(prefix), prefix))
        if name is not None:
            where.append("name = ?")
            params.append(name)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_RUN_COLUMNS} FROM {self.t['run']}{clause} ORDER BY created_at, workflow_id LIMIT ?"
        return [_run_row(r) for r in self.db.read(sql, (*params, limit))]

    def claim_orphans(self, executor_id: str, dead: Sequence[str], names: Sequence[str],
                      max_attempts: int) -> list[RunRow]:
        """Take over the unfinished runs of executors found dead whose workflow is one of `names` (the code this
        process has), each counted as one more recovery attempt; runs past the limit are marked and not returned
        (a run that kills its process every time must not loop forever). A run that recorded steps since it was
        last taken over made progress — a run waiting days for a person polls its task — and starts counting
        again. The update names the previous owner: of two executors claiming one run, one wins."""
        if not dead or not names:
            return []
        owners, flows = ", ".join("?" for _ in dead), ", ".join("?" for _ in names)
        r, s = self.t["run"], self.t["step"]
        select = (f"SELECT {_RUN_COLUMNS}, progress, (SELECT count(*) FROM {s} WHERE {s}.workflow_id = "
                  f"{r}.workflow_id) FROM {r} WHERE status = ? AND executor_id IN ({owners}) AND name IN ({flows}) "
                  f"ORDER BY created_at, workflow_id")
        take = (f"UPDATE {r} SET executor_id = ?, recovery_attempts = ?, progress = ?, updated_at = ? "
                f"WHERE workflow_id = ? AND executor_id = ? AND status = ?")
        give_up = (f"UPDATE {self.t['run']} SET status = ?, updated_at = ? WHERE workflow_id = ? AND executor_id = ? "
                   f"AND status = ?")

        def unit(cur: Any) -> list[RunRow]:
            claimed = []
            for found in cur.execute(select, (PENDING, *dead, *names)).fetchall():
                row, progress, steps = _run_row(found), int(found[-2]), int(found[-1])
                attempts = 1 if steps > progress else row.recovery_attempts + 1
                if attempts > max_attempts:
                    cur.execute(give_up, (EXHAUSTED, time.time(), row.workflow_id, row.executor_id, PENDING))
                elif cur.execute(take, (executor_id, attempts, steps, time.time(), row.workflow_id,
                                        row.executor_id, PENDING)).rowcount:
                    claimed.append(row)
            return claimed

        return self.db.write(unit)

    # -- executors -----------------------------------------------------------------------------------------
    def register_executor(self, executor_id: str, host: str, pid: int) -> None:
        now = time.time()
        sql = (f"INSERT INTO {self.t['executor']} (executor_id, host, pid, started_at, heartbeat_at) "
               f"VALUES (?, ?, ?, ?, ?)")
        self.db.write(lambda cur: cur.execute(sql, (executor_id, host, pid, now, now)))

    def heartbeat(self, executor_id: str) -> bool:
        """Refresh this executor's liveness; False if its row is gone (it was taken for dead)."""
        sql = f"UPDATE {self.t['executor']} SET heartbeat_at = ? WHERE executor_id = ?"
        return bool(self.db.write(lambda cur: cur.execute(sql, (time.time(), executor_id)).rowcount))

    def remove_executor(self, executor_id: str) -> None:
        sql = f"DELETE FROM {self.t['executor']} WHERE executor_id = ?"
        self.db.write(lambda cur: cur.execute(sql, (executor_id,)))

    def forget_executors(self, dead: Sequence[str]) -> None:
        """Drop the rows of dead executors that own no unfinished run any more."""
        if not dead:
            return
        e, r = self.t["executor"], self.t["run"]
        sql = (f"DELETE FROM {e} WHERE executor_id IN ({', '.join('?' for _ in dead)}) AND NOT EXISTS "
               f"(SELECT 1 FROM {r} WHERE {r}.executor_id = {e}.executor_id AND {r}.status = ?)")
        self.db.write(lambda cur: cur.execute(sql, (*dead, PENDING)))

    def executors(self) -> list[ExecutorRow]:
        rows = self.db.read(f"SELECT executor_id, host, pid, started_at, heartbeat_at FROM {self.t['executor']}", ())
        return [ExecutorRow(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in rows]

    def pending_owners(self) -> list[str]:
        """The executors that own unfinished runs (any of them may be dead)."""
        rows = self.db.read(f"SELECT DISTINCT executor_id FROM {self.t['run']} WHERE status = ?", (PENDING,))
        return [str(r[0]) for r in rows]

    # -- steps ---------------------------------------------------------------------------------------------
    def steps(self, workflow_id: str) -> list[StepRow]:
        rows = self.db.read(f"SELECT seq, name, output, error, at FROM {self.t['step']} WHERE workflow_id = ? "
                            f"ORDER BY seq", (workflow_id,))
        return [StepRow(int(r[0]), str(r[1]), _bytes(r[2]), _bytes(r[3]), float(r[4])) for r in rows]

    def _append(self, cur: Any, workflow_id: str, seq: int, name: str, output: bytes | None,
                error: bytes | None) -> StepRow | None:
        inserted = cur.execute(
            f"INSERT INTO {self.t['step']} (workflow_id, seq, name, output, error, at) VALUES (?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT DO NOTHING", (workflow_id, seq, name, output, error, time.time())).rowcount
        if inserted:
            return None
        row = cur.execute(f"SELECT seq, name, output, error, at FROM {self.t['step']} WHERE workflow_id = ? AND "
                          f"seq = ?", (workflow_id, seq)).fetchone()
        return StepRow(int(row[0]), str(row[1]), _bytes(row[2]), _bytes(row[3]), float(row[4]))

    def append_step(self, workflow_id: str, seq: int, name: str, output: bytes | None,
                    error: bytes | None) -> StepRow | None:
        """Record a step's outcome. None: recorded; a row: another executor recorded this step first."""
        return self.db.write(lambda cur: self._append(cur, workflow_id, seq, name, output, error))

    # -- messages ------------------------------------------------------------------------------------------
    def send(self, destination: str, topic: str, body: bytes,
             journal: tuple[str, int, str] | None = None) -> bool:
        """Queue a message for a run that is still running (False: no such run, or it has finished); with
        `journal` (workflow id, seq, step name) the send and its answer are recorded as that step of the sending
        run, in the same transaction — a replay gets the same answer without sending again."""
        sql = (f"INSERT INTO {self.t['message']} (destination, topic, body, sent_at) SELECT ?, ?, ?, ? "
               f"WHERE EXISTS (SELECT 1 FROM {self.t['run']} WHERE workflow_id = ? AND status = ?)")
        recorded = f"SELECT output FROM {self.t['step']} WHERE workflow_id = ? AND seq = ?"

        def unit(cur: Any) -> bool:
            if journal is not None and (row := cur.execute(recorded, journal[:2]).fetchone()) is not None:
                return bool(pickle.loads(row[0])) if row[0] is not None else True  # another execution sent it
            sent = bool(cur.execute(sql, (destination, topic, body, time.time(), destination, PENDING)).rowcount)
            if journal is not None:
                self._append(cur, journal[0], journal[1], journal[2], pickle.dumps(sent), None)
            return sent

        return self.db.write(unit)

    def census(self, now: float) -> list[tuple[str | None, str, str, int, float]]:
        """(tenant, workflow name, status, runs, age of the oldest in seconds) for the metrics; the age only
        means something for PENDING runs (how long the oldest unfinished run has been running)."""
        rows = self.db.read(f"SELECT tenant, name, status, count(*), min(created_at) FROM {self.t['run']} "
                            f"GROUP BY tenant, name, status", ())
        return [(r[0], str(r[1]), str(r[2]), int(r[3]), max(0.0, now - float(r[4]))) for r in rows]

    def has_message(self, workflow_id: str, topic: str) -> bool:
        """A read before `receive`'s write transaction: a waiting run polls, and most polls find nothing."""
        return bool(self.db.read(f"SELECT 1 FROM {self.t['message']} WHERE destination = ? AND topic = ? LIMIT 1",
                                 (workflow_id, topic)))

    def receive(self, workflow_id: str, topic: str, seq: int, name: str, timed_out: bool) -> StepRow | None:
        """Take the oldest message on `topic` and record it as step `seq`, in one transaction; None if there is
        none yet (unless `timed_out`: then "nothing" is recorded as the step's result)."""
        take = (f"DELETE FROM {self.t['message']} WHERE id = (SELECT id FROM {self.t['message']} "
                f"WHERE destination = ? AND topic = ? ORDER BY id LIMIT 1) RETURNING body")

        recorded = (f"SELECT seq, name, output, error, at FROM {self.t['step']} WHERE workflow_id = ? AND "
                    f"seq = ?")

        def unit(cur: Any) -> StepRow | None:
            if (row := cur.execute(recorded, (workflow_id, seq)).fetchone()) is not None:
                return StepRow(int(row[0]), str(row[1]), _bytes(row[2]), _bytes(row[3]), float(row[4]))
            # Two executors racing past the check above (PostgreSQL only: SQLite serialises writers) could
            # consume two messages for one step; the loser's is lost. Receivers here only use messages as
            # wake-ups and re-read their condition, so a lost one costs a poll interval, not correctness.
            got = cur.execute(take, (workflow_id, topic)).fetchone()
            if got is None and not timed_out:
                return None
            body = None if got is None else _bytes(got[0])
            winner = self._append(cur, workflow_id, seq, name, body, None)
            return winner or StepRow(seq, name, body, None, time.time())

        return self.db.write(unit)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(workflow_id=str(r[0]), name=str(r[1]), status=str(r[2]), parent_id=r[3],
                  executor_id=str(r[4]), input=bytes(r[5]), output=_bytes(r[6]), error=_bytes(r[7]),
                  recovery_attempts=int(r[8]), created_at=float(r[9]), updated_at=float(r[10]))
