"""The twin's in-memory account: organizations, users and bulk jobs, with Zendesk's validation rules.

Names and external ids are unique per account and compared case-insensitively, as documented. One id
sequence serves every record type so an organization id never collides with a user id: a connector that
mixes them up fails against the twin instead of passing by accident.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import fields as dataclass_fields
from typing import Any

from concord.sandbox.zendesk.errors import (
    FieldErrors,
    ZendeskError,
    blank,
    invalid,
    merge,
    not_found,
    record_invalid,
    summary,
    taken,
)
from concord.sandbox.zendesk.fields import Changes, organization_changes, user_changes
from concord.sandbox.zendesk.models import JobStatus, JsonDict, Organization, User
from concord.sandbox.zendesk.settings import ZendeskTwinSettings

_FIRST_ID = 360_000_001


def _fold(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


def _as_payload(item: Any) -> JsonDict:
    return item if isinstance(item, dict) else {}


def _failure(exc: ZendeskError) -> JsonDict:
    body = exc.body if isinstance(exc.body, dict) else {"error": str(exc.body)}
    details = body.get("details")
    if isinstance(details, dict):
        code, text = summary(details)
        return {"error": code, "details": text}
    return {"error": body.get("error", "Error"), "details": body.get("description", "")}


class ZendeskStore:
    """All state of one emulated Zendesk account. Every public method is atomic."""

    def __init__(self, settings: ZendeskTwinSettings):
        self.settings = settings
        self._lock = threading.RLock()
        self.organizations: dict[int, Organization] = {}
        self.users: dict[int, User] = {}
        self.jobs: dict[str, JobStatus] = {}
        self._next_id = _FIRST_ID

    def now(self) -> int:
        return int(self.settings.clock())

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def reset(self) -> None:
        with self._lock:
            self.organizations.clear()
            self.users.clear()
            self.jobs.clear()
            self._next_id = _FIRST_ID

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "organizations": len(self.organizations),
                "users": len(self.users),
                "job_statuses": len(self.jobs),
            }

    # ---- organizations -------------------------------------------------------------------------------

    def get_organization(self, org_id: int) -> Organization:
        with self._lock:
            org = self.organizations.get(org_id)
            if org is None:
                raise not_found()
            return org

    def list_organizations(self) -> list[Organization]:
        with self._lock:
            return sorted(self.organizations.values(), key=lambda org: org.id)

    def search_organizations(self, external_id: str | None, name: str | None) -> list[Organization]:
        with self._lock:
            if external_id is not None:
                return [o for o in self.list_organizations() if _fold(o.external_id) == _fold(external_id)]
            return [o for o in self.list_organizations() if _fold(o.name) == _fold(name)]

    def _organization_errors(self, changes: Changes, current: Organization | None) -> FieldErrors:
        errors: FieldErrors = {}
        name = changes.get("name") if "name" in changes.values or current is None else current.name
        if not name:
            errors["name"] = [blank("Name")]
        for other in self.organizations.values():
            if current is not None and other.id == current.id:
                continue
            if name and _fold(other.name) == _fold(name):
                errors.setdefault("name", []).append(taken("Name", name))
            ext = changes.get("external_id")
            if ext and _fold(other.external_id) == _fold(ext):
                errors.setdefault("external_id", []).append(taken("External ID", ext))
        return merge(changes.errors, errors)

    def _apply(self, record: Organization | User, changes: Changes, custom_attr: str) -> None:
        """Writes the changes; `updated_at` moves only when a value really changed, as in Zendesk, so a
        client that re-sends what is stored does not see its own write come back in incremental exports."""
        names = {f.name for f in dataclass_fields(record)}
        changed = False
        for key, value in changes.values.items():
            if key == custom_attr:
                custom: dict[str, Any] = getattr(record, custom_attr)
                changed |= any(custom.get(k) != v for k, v in value.items())
                custom.update(value)
            elif key in names:
                changed |= getattr(record, key) != value
                setattr(record, key, value)
        if changed:
            record.updated_at = self.now()

    def create_organization(self, payload: JsonDict) -> Organization:
        with self._lock:
            changes = organization_changes(payload, self.settings.organization_fields)
            errors = self._organization_errors(changes, None)
            if errors:
                raise record_invalid(errors)
            now = self.now()
            org = Organization(id=self._new_id(), name="", created_at=now, updated_at=now)
            self._apply(org, changes, "organization_fields")
            self.organizations[org.id] = org
            return org

    def update_organization(self, org_id: int, payload: JsonDict) -> Organization:
        with self._lock:
            org = self.get_organization(org_id)
            changes = organization_changes(payload, self.settings.organization_fields)
            errors = self._organization_errors(changes, org)
            if errors:
                raise record_invalid(errors)
            self._apply(org, changes, "organization_fields")
            return org

    def create_or_update_organization(self, payload: JsonDict) -> tuple[Organization, bool]:
        """Matches an existing organization by `id`, then by `external_id`; creates one otherwise."""
        with self._lock:
            match = self.organizations.get(payload["id"]) if isinstance(payload.get("id"), int) else None
            ext = payload.get("external_id")
            if match is None and isinstance(ext, str | int) and not isinstance(ext, bool):
                found = self.search_organizations(str(ext), None)
                match = found[0] if found else None
            if match is not None:
                return self.update_organization(match.id, payload), False
            return self.create_organization(payload), True

    def delete_organization(self, org_id: int) -> None:
        with self._lock:
            self.get_organization(org_id)
            del self.organizations[org_id]
            for user in self.users.values():
                if user.organization_id == org_id:
                    user.organization_id = None
                    user.updated_at = self.now()

    # ---- users ---------------------------------------------------------------------------------------

    def get_user(self, user_id: int) -> User:
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise not_found()
            return user

    def list_users(self, organization_id: int | None = None) -> list[User]:
        with self._lock:
            users = sorted(self.users.values(), key=lambda user: user.id)
            if organization_id is not None:
                users = [u for u in users if u.organization_id == organization_id]
            return users

    def search_users(self, query: str | None, external_id: str | None) -> list[User]:
        """`external_id` is an exact match; `query` takes an email, `email:`/`external_id:`/`name:` terms."""
        with self._lock:
            users = self.list_users()
            if external_id is not None:
                return [u for u in users if _fold(u.external_id) == _fold(external_id)]
            term = (query or "").strip()
            key, _, value = term.partition(":")
            if value and key in ("email", "external_id", "name"):
                return [u for u in users if _fold(getattr(u, key)) == _fold(value.strip())]
            folded = term.casefold()
            return [u for u in users if folded in u.name.casefold() or folded == _fold(u.email)]

    def _user_errors(self, changes: Changes, current: User | None) -> FieldErrors:
        errors: FieldErrors = {}
        name = changes.get("name") if "name" in changes.values or current is None else current.name
        if not name:
            errors["name"] = [blank("Name")]
        org_id = changes.get("organization_id")
        if org_id is not None and org_id not in self.organizations:
            errors["organization_id"] = [invalid("Organization", org_id)]
        for other in self.users.values():
            if current is not None and other.id == current.id:
                continue
            email = changes.get("email")
            if email and _fold(other.email) == _fold(email):
                errors.setdefault("email", []).append(
                    {
                        "description": f"Email: {email} is already being used by another user",
                        "error": "DuplicateValue",
                    }
                )
            ext = changes.get("external_id")
            if ext and _fold(other.external_id) == _fold(ext):
                errors.setdefault("external_id", []).append(taken("External ID", ext))
        return merge(changes.errors, errors)

    def create_user(self, payload: JsonDict) -> User:
        with self._lock:
            changes = user_changes(payload, self.settings.user_fields)
            errors = self._user_errors(changes, None)
            if errors:
                raise record_invalid(errors)
            now = self.now()
            user = User(id=self._new_id(), name="", created_at=now, updated_at=now)
            self._apply(user, changes, "user_fields")
            self.users[user.id] = user
            return user

    def update_user(self, user_id: int, payload: JsonDict) -> User:
        with self._lock:
            user = self.get_user(user_id)
            changes = user_changes(payload, self.settings.user_fields)
            errors = self._user_errors(changes, user)
            if errors:
                raise record_invalid(errors)
            self._apply(user, changes, "user_fields")
            return user

    def create_or_update_user(self, payload: JsonDict) -> tuple[User, bool]:
        """Matches an existing user by `external_id`, then by `email`; creates one otherwise."""
        with self._lock:
            match: User | None = None
            ext, email = payload.get("external_id"), payload.get("email")
            if isinstance(ext, str | int) and not isinstance(ext, bool):
                found = self.search_users(None, str(ext))
                match = found[0] if found else None
            if match is None and isinstance(email, str):
                match = next((u for u in self.users.values() if _fold(u.email) == _fold(email)), None)
            if match is not None:
                return self.update_user(match.id, payload), False
            return self.create_user(payload), True

    # ---- bulk jobs -----------------------------------------------------------------------------------

    def _record_job(self, job_type: str, results: list[JsonDict]) -> JobStatus:
        created = self.settings.clock()
        job = JobStatus(
            id=uuid.uuid4().hex,
            job_type=job_type,
            total=len(results),
            results=results,
            created_at=created,
            ready_at=created + self.settings.job_completion_delay_s,
        )
        self.jobs[job.id] = job
        return job

    def get_job(self, job_id: str) -> JobStatus:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise not_found()
            return job

    def create_many_organizations(self, items: list[Any]) -> JobStatus:
        with self._lock:
            results: list[JsonDict] = []
            for index, item in enumerate(items):
                try:
                    org = self.create_organization(_as_payload(item))
                    results.append({"id": org.id, "index": index})
                except ZendeskError as exc:
                    results.append({"index": index, **_failure(exc)})
            return self._record_job("bulk_create_organizations", results)

    def update_many_organizations(self, updates: list[tuple[int, JsonDict]]) -> JobStatus:
        with self._lock:
            results: list[JsonDict] = []
            for org_id, payload in updates:
                try:
                    self.update_organization(org_id, payload)
                    results.append({"id": org_id, "action": "update", "success": True, "status": "Updated"})
                except ZendeskError as exc:
                    results.append(
                        {
                            "id": org_id,
                            "action": "update",
                            "success": False,
                            "status": "Failed",
                            **_failure(exc),
                        }
                    )
            return self._record_job("bulk_update_organizations", results)

    def create_or_update_many_users(self, items: list[Any]) -> JobStatus:
        with self._lock:
            results: list[JsonDict] = []
            for index, item in enumerate(items):
                try:
                    user, created = self.create_or_update_user(_as_payload(item))
                    action, status = ("create", "Created") if created else ("update", "Updated")
                    results.append({"id": user.id, "action": action, "success": True, "status": status})
                except ZendeskError as exc:
                    results.append({"index": index, "success": False, "status": "Failed", **_failure(exc)})
            return self._record_job("bulk_create_or_update_users", results)
