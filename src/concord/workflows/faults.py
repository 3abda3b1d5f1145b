"""A crash hook for the crash tests: SIGKILL this process right after a named step's side effects took place
and before the journal recorded the step's result — the moment a restart is most likely to repeat an effect.

Off unless `CONCORD_WORKFLOW_CRASH_AT` names a step, optionally for one subject only (`erp-create@<customer id>`);
read once, when the services are built, not at import.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

CRASH_ENV = "CONCORD_WORKFLOW_CRASH_AT"


@dataclass(frozen=True)
class FaultHook:
    crash_at: str | None = None

    @classmethod
    def from_env(cls) -> FaultHook:
        return cls(crash_at=os.environ.get(CRASH_ENV) or None)

    def after_effect(self, step: str, subject: str) -> None:
        if self.crash_at is not None and self.crash_at in (step, f"{step}@{subject}"):
            os.kill(os.getpid(), signal.SIGKILL)
