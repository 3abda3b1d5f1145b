"""Mounting the console: Jinja2 templates and vendored static files from the package, the page routers, and
the operations endpoints (metrics, health, experience API) they sit beside."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from concord.observability.tracing import current_trace_id
from concord.security.csrf import issue_csrf


def package_dir(name: str) -> Path:
    return Path(str(resources.files("concord.console") / name))


def build_templates() -> Environment:
    env = Environment(loader=FileSystemLoader(package_dir("templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = _format_ts
    return env


def _format_ts(value: float | datetime | None) -> str:
    if value is None:
        return "—"
    stamp = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a page with the CSRF token, the current trace id and the nav state every layout needs."""
    env: Environment = request.app.state.console_templates
    response = HTMLResponse("", status_code=status_code)
    token = issue_csrf(request, response)  # the security guard (#8): signed double-submit token
    values.setdefault("flash", request.query_params.get("flash"))
    values.setdefault("flash_kind", request.query_params.get("kind"))
    body = env.get_template(template).render(request=request, csrf_token=token, trace_id=current_trace_id(),
                                             path=request.url.path, **values)
    response.body = response.render(body)
    response.headers["content-length"] = str(len(response.body))
    return response


def install_console(app: FastAPI, otlp_endpoint: str | None) -> None:
    from concord.api.deps import hub_operator
    from concord.api.routes import experience, operations
    from concord.console import audit, customers, dashboard, dead_letters, inbox, login, mappings, ownership
    from concord.observability.install import install_operations

    install_operations(app, otlp_endpoint)
    app.state.console_templates = build_templates()
    app.state.login_page = login.LOGIN_PAGE  # where a browser without a key is sent (api/problems.py)
    app.mount("/console/static", StaticFiles(directory=package_dir("static")), name="console-static")
    for module in (operations, experience, login):  # login checks its key itself
        app.include_router(module.router)
    # The console shows every tenant's data: only all-tenant keys (hub operators) may open it (#8, decision 055).
    for module in (dashboard, customers, inbox, dead_letters, mappings, ownership, audit):
        app.include_router(module.router, dependencies=[Depends(hub_operator)])
