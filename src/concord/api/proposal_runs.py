"""One transaction for a mapping or ownership change request, with the errors of both turned into problems.

An approval or rollback swaps the new version into this process before its transaction commits; when the commit
does not happen, what was swapped in must not stay in force here, so every failure invalidates both live sets
(the next sync puts the stored versions back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from concord.api.deps import AppContext
from concord.api.problems import Problem
from concord.security.proposal_store import ProposalError

T = TypeVar("T")

CONCURRENT = "another activation was committed at the same moment; nothing of this one was kept: retry"


def run_change(ctx: AppContext, refused: str, action: Callable[[Any], T]) -> T:
    """`action(conn)` in one transaction; ProposalError → its status, a database error → 409 (e.g. two approvals
    drew the same version number: the first commit won), both titled `refused`."""
    try:
        with ctx.engine.begin() as conn:
            return action(conn)
    except ProposalError as exc:
        raise Problem(exc.status, refused, str(exc)) from exc
    except DBAPIError as exc:
        _forget_uncommitted(ctx)
        raise Problem(409, refused, CONCURRENT) from exc
    except Exception:
        _forget_uncommitted(ctx)
        raise


def _forget_uncommitted(ctx: AppContext) -> None:
    ctx.runtime.live.invalidate()
    ctx.runtime.live_mappings.invalidate()
