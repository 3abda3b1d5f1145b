"""What route handlers receive: the engine, the runtime configuration and the ingest service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.security.scopes import Principal, Scope
from concord.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    runtime: Runtime
    ingest: IngestService


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.concord
    return ctx


def authorize(scope: Scope) -> Callable[[Request], Principal]:
    """A dependency that admits a caller holding `scope`, and returns who it is.

    Placeholder until API keys land (issue #8): every caller is the local admin of the `default` tenant.
    Routes must still name their scope so that the key check covers them the day it is switched on.
    """

    def dependency(request: Request) -> Principal:
        principal = Principal(key_id="local", tenant="default", scopes=frozenset({Scope.ADMIN}), actor="local")
        request.state.principal = principal
        return principal

    dependency.__concord_scope__ = scope  # type: ignore[attr-defined]
    return dependency
