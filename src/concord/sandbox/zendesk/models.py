"""Records the twin holds and their JSON representation, with the properties Zendesk documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]

USER_ROLES = ("end-user", "agent", "admin")


def iso(ts: int) -> str:
    """Zendesk timestamps: UTC, ISO 8601, second precision, `Z` suffix."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Organization:
    id: int
    name: str
    created_at: int
    updated_at: int
    external_id: str | None = None
    details: str | None = None
    notes: str | None = None
    group_id: int | None = None
    shared_tickets: bool = False
    shared_comments: bool = False
    domain_names: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    organization_fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self, base_url: str, field_keys: tuple[str, ...]) -> JsonDict:
        return {
            "url": f"{base_url}/api/v2/organizations/{self.id}.json",
            "id": self.id,
            "name": self.name,
            "shared_tickets": self.shared_tickets,
            "shared_comments": self.shared_comments,
            "external_id": self.external_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "domain_names": list(self.domain_names),
            "details": self.details,
            "notes": self.notes,
            "group_id": self.group_id,
            "tags": list(self.tags),
            "organization_fields": {key: self.organization_fields.get(key) for key in field_keys},
        }


@dataclass
class User:
    id: int
    name: str
    created_at: int
    updated_at: int
    email: str | None = None
    external_id: str | None = None
    organization_id: int | None = None
    role: str = "end-user"
    phone: str | None = None
    alias: str | None = None
    details: str | None = None
    notes: str | None = None
    time_zone: str = "UTC"
    locale: str = "en-US"
    verified: bool = False
    suspended: bool = False
    active: bool = True
    tags: list[str] = field(default_factory=list)
    user_fields: dict[str, Any] = field(default_factory=dict)

    def _permissions_json(self) -> JsonDict:
        """Access fields (role restrictions, suspension) in the order Zendesk lists them. The twin has no custom
        roles: an end user sees only the tickets they requested, and every other role moderates."""
        end_user = self.role == "end-user"
        return {
            "role_type": None,
            "custom_role_id": None,
            "moderator": not end_user,
            "ticket_restriction": "requested" if end_user else None,
            "only_private_comments": False,
            "restricted_agent": end_user,
            "suspended": self.suspended,
            "default_group_id": None,
            "report_csv": False,
        }

    def to_json(self, base_url: str, field_keys: tuple[str, ...]) -> JsonDict:
        return {
            "id": self.id,
            "url": f"{base_url}/api/v2/users/{self.id}.json",
            "name": self.name,
            "email": self.email,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "time_zone": self.time_zone,
            "iana_time_zone": "Etc/UTC" if self.time_zone == "UTC" else self.time_zone,
            "phone": self.phone,
            "shared_phone_number": None,
            "photo": None,
            "locale_id": 1,
            "locale": self.locale,
            "organization_id": self.organization_id,
            "role": self.role,
            "verified": self.verified,
            "external_id": self.external_id,
            "tags": list(self.tags),
            "alias": self.alias,
            "active": self.active,
            "shared": False,
            "shared_agent": False,
            "last_login_at": None,
            "two_factor_auth_enabled": False,
            "signature": None,
            "details": self.details,
            "notes": self.notes,
            **self._permissions_json(),
            "user_fields": {key: self.user_fields.get(key) for key in field_keys},
        }


@dataclass
class JobStatus:
    """A bulk job. The twin does the work at once; `ready_at` is when it starts reporting "completed"."""

    id: str
    job_type: str
    total: int
    results: list[JsonDict]
    created_at: float
    ready_at: float

    def to_json(self, base_url: str, now: float | None = None) -> JsonDict:
        """`now=None` is the snapshot the enqueueing request returns: always "queued", as Zendesk answers."""
        done = now is not None and now >= self.ready_at
        return {
            "id": self.id,
            "url": f"{base_url}/api/v2/job_statuses/{self.id}.json",
            "job_type": self.job_type,
            "total": self.total,
            "progress": self.total if done else None,
            "status": "completed" if done else "queued",
            "message": f"Completed at {_job_time(self.ready_at)}" if done else None,
            "results": list(self.results) if done else None,
        }


def _job_time(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
