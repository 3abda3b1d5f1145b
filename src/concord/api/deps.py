"""What route handlers receive: the engine, the runtime configuration and the ingest service."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
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
