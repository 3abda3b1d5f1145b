"""The scopes an API key can carry, and the roles that bundle them.

Every API route and console page names the one scope it needs through `concord.api.deps.authorize(scope)`;
the route-coverage test walks the app and refuses a route that names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    CHANGES_READ = "changes:read"
    CHANGES_WRITE = "changes:write"
    RECORDS_READ = "records:read"
    APPROVALS_DECIDE = "approvals:decide"
    PROCESS_RUN = "process:run"
    PROCESS_READ = "process:read"
    TASKS_READ = "tasks:read"
    TASKS_RESOLVE = "tasks:resolve"
    REVIEW_DECIDE = "review:decide"
    EVENTS_READ = "events:read"
    EVENTS_OPERATE = "events:operate"
    MAPPINGS_READ = "mappings:read"
    MAPPINGS_PROPOSE = "mappings:propose"
    MAPPINGS_APPROVE = "mappings:approve"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (or 'local' for the unauthenticated developer mode), tenant and scopes."""

    key_id: str
    tenant: str
    scopes: frozenset[Scope]
    actor: str

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes
