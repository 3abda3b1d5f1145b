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

    def sees(self, tenant: str) -> bool:
        """Whether this caller may read or change data of `tenant`."""
        return self.tenant in (tenant, ALL_TENANTS)


ALL_TENANTS = "*"  # a hub operator's key: not bound to one tenant (only ever created explicitly)

_VIEW = frozenset({Scope.CHANGES_READ, Scope.RECORDS_READ, Scope.PROCESS_READ, Scope.TASKS_READ, Scope.EVENTS_READ,
                   Scope.MAPPINGS_READ, Scope.METRICS_READ})

# Least privilege: each role is the smallest bundle its people need; `admin` is never part of a role but its own.
ROLES: dict[str, frozenset[Scope]] = {
    "viewer": _VIEW,
    "operator": _VIEW | {Scope.CHANGES_WRITE, Scope.PROCESS_RUN, Scope.EVENTS_OPERATE},
    "steward": _VIEW | {Scope.APPROVALS_DECIDE, Scope.TASKS_RESOLVE, Scope.REVIEW_DECIDE, Scope.MAPPINGS_PROPOSE,
                        Scope.AUDIT_READ},
    "integration-admin": _VIEW | {Scope.CHANGES_WRITE, Scope.EVENTS_OPERATE, Scope.MAPPINGS_PROPOSE,
                                  Scope.MAPPINGS_APPROVE, Scope.AUDIT_READ},
    "admin": frozenset({Scope.ADMIN}),
}


def parse_scopes(names: list[str]) -> frozenset[Scope]:
    """Scope values from their names; the error names the one that is not a scope."""
    known = {s.value: s for s in Scope}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return frozenset(known[n] for n in names)
