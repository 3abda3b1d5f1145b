"""bench/ingest_cost: machine instructions per ingested change, counted by valgrind (callgrind), not timed.

Why: the 2-core box's interpreter speed moves ±30% within an hour (decision 085), so a cut of a few percent in
the ingest path cannot be seen in a timed run. An instruction count is the same on every run of the same code
and data (±0.5% here, whatever else the box does), so it can compare two versions of the code directly.

What runs: `bench/ingest`'s workload through the serial ingest path in one thread — `prepare` (mapping,
validation), binder → ownership gate → router, golden records + change log + outbox + audit seal written and
committed in one transaction per batch — on SQLite. Three processes run under callgrind: start-up and a
1,000-change warm-up alone, then the same plus N measured changes for each row; a row's difference from the
first, over N, is the cost of a change.
The peers, in the same run: one transaction per change (a batch of one), the naive path; and, when the hot path
is compiled (decision 089), the same group commit with it loaded from source (CONCORD_PURE_PYTHON=1).

`python -m bench ingest_cost` (CONCORD_BENCH_COST_CHANGES, default 2,000; takes ~5 minutes: valgrind runs
Python ~50 times slower). Not part of `make bench`'s default set; needs `valgrind` on the PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

WARM_UP = 1_000
PURE_ENV = "CONCORD_PURE_PYTHON"
COLLECTED = re.compile(r"Collected : (\d+)")


def child(measured: int, batch: int) -> None:
    """The measured process: warm up in batches of 64, then ingest `measured` changes in batches of `batch`."""
    from bench.ingest import workload
    from concord.hubconfig import load_runtime
    from concord.ingest.cache import BindingCache, RecordCache
    from concord.ingest.service import prepare_all, process_in_transaction
    from concord.matching.store import DuplicateChecker
    from concord.storage.engine import make_engine, upgrade
    from concord.tuning import tune_gc_for_throughput

    tune_gc_for_throughput()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'cost.db'}")
        upgrade(engine)
        runtime = load_runtime(None)
        changes = workload(WARM_UP + measured, customers=5000)
        cache, bindings = RecordCache(), BindingCache()
        checker = DuplicateChecker(entities=frozenset({"account"}))  # as IngestService runs it
        for part, size in ((changes[:WARM_UP], 64), (changes[WARM_UP:], batch)):
            for i in range(0, len(part), size):
                prepared, errors = prepare_all(runtime, part[i:i + size])
                if errors:
                    raise SystemExit(f"bench workload change refused: {next(iter(errors.values())).detail}")
                process_in_transaction(engine, runtime, prepared, cache, bindings, checker)
        engine.dispose()


def instructions(measured: int, batch: int, pure: bool = False) -> int:
    """Instructions callgrind counts for one child process (`pure`: the hot path from source, not compiled)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # dict and set layouts, hence their costs, fixed per run
        env.pop(PURE_ENV, None)
        if pure:
            env[PURE_ENV] = "1"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={Path(tmp) / 'out'}", sys.executable, "-m",
             "bench.ingest_cost", "--child", str(measured), str(batch)],
            capture_output=True, text=True, env=env, check=False)
    found = COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/ingest_cost needs valgrind (Debian package valgrind)")
    measured = int(os.environ.get("CONCORD_BENCH_COST_CHANGES", "2000"))
    console = Console()
    import concord

    native = concord.NATIVE  # the compiled hot path (decision 089), when `make install` could build it
    console.print(f"counting instructions under callgrind: {5 if native else 3} runs, {measured:,} changes each after "
                  "warm-up …")
    base = instructions(0, 64)
    rows = [("group commit, batches of 64" + (", compiled hot path" if native else ""), base,
             instructions(measured, 64)),
            ("one transaction per change (peer)", base, instructions(measured, 1))]
    if native:
        pure_base = instructions(0, 64, pure=True)
        rows.append((f"group commit, pure Python ({PURE_ENV}=1)", pure_base, instructions(measured, 64, pure=True)))
    table = Table("path", "changes", "instructions per change", "vs group commit",
                  title="bench/ingest_cost — machine instructions per ingested change (callgrind, one thread)")
    group = (rows[0][2] - base) / measured
    for label, start, total in rows:
        per_change = (total - start) / measured
        table.add_row(label, f"{measured:,}", f"{per_change:,.0f}", f"{per_change / group:.2f}x")
    console.print(table)
    console.print(f"start-up and {WARM_UP:,}-change warm-up: {base:,} instructions (subtracted; measured per build). "
                  "Repeat runs of the same code agree to ±0.5%; compare versions by this, not by a timed run "
                  "(decision 087).")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
