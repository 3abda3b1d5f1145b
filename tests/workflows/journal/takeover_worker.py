"""A worker process for the takeover test: launch an executor on the journal, start one run that blocks in a
step until a release file exists, print "ready", and wait to be killed.

    python -m tests.workflows.journal.takeover_worker URL WORKFLOW_ID RELEASE_FILE
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.workflows.journal.flows import Release, released

from concord.workflows.journal import ops, run_status, start_workflow
from concord.workflows.journal.db import open_db
from concord.workflows.journal.runtime import Executor
from concord.workflows.journal.store import JournalStore


def main(url: str, workflow_id: str, release: str) -> None:
    executor = Executor(JournalStore(open_db(url, "NORMAL")), "worker", heartbeat_s=0.2, ttl_s=30)
    ops.activate(executor)
    executor.launch()
    start_workflow(released, Release(path=release), workflow_id)
    while (status := run_status(workflow_id)) is None or not status.executor_id.startswith("worker:"):
        time.sleep(0.01)
    while not Path(release + ".entered").exists():  # inside the step: killed there, nothing is recorded
        time.sleep(0.01)
    print("ready", executor.executor_id, flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:4])
