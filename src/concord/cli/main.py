"""Entry point: `concord <command>`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from concord.cli import (
    config_cmds,
    data_cmds,
    demo_cmd,
    events_cmds,
    lifecycle_cmds,
    ownership_cmds,
    run_cmds,  # noqa: F401 — declares `concord workflows runs` / `show` on workflow_cmds' group
    sandbox_cmds,
    security_cmds,
    sync_cmd,
    worker_cmds,
    workflow_cmds,
)
from concord.cli.common import fail, runtime, settings
from concord.cli.worker_cmds import checked_scale_settings
from concord.matching.cli import dedupe
from concord.reconciliation import cli as reconciliation_cli
from concord.scale.settings import ScaleConfigError
from concord.yamlconf import ConfigError


def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS")] = None,
          tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
          connections: Annotated[Path | None, typer.Option(
              dir_okay=False, help="systems YAML: host the workflow runtime (process API, event starts), probe "
                                   "the systems in /readyz, chart rate-limit headroom; default $CONCORD_CONNECTIONS",
          )] = None,
          sync: Annotated[bool | None, typer.Option(
              "--sync/--no-sync", help="with a connections file, also deliver outbound commands and run its "
                                       "`capture:` polling in this process; default $CONCORD_SYNC (on); never in "
                                       "scale mode")] = None) -> None:
    """Run the API and the operations console (/console) with uvicorn; logs are JSON lines, PII masked. With a
    connections file the same process runs the lifecycle workflows, their connectors and the sync loop."""
    import uvicorn

    from concord.api.serving import create_serving_app
    from concord.observability.logs import configure_logging
    from concord.security.install import serving_checks
    from concord.tuning import tune_gc_for_throughput
    from concord.workflows.hosting import NoConnections, connections_file

    s = serving_checks(settings(), tls_cert, tls_key)
    if sync is not None:
        s = s.model_copy(update={"sync": sync})
    if connections is not None or s.connections is not None:
        try:
            s = s.model_copy(update={"connections": connections_file(s, connections)})
        except NoConnections as exc:
            raise fail(str(exc)) from exc
    try:  # a bad `capture:` entry stops the start with its file and field, before anything listens
        app = create_serving_app(s, runtime(s), scale=checked_scale_settings() if s.scale else None)
    except (ConfigError, ScaleConfigError) as exc:
        raise fail(str(exc)) from exc
    tune_gc_for_throughput()
    configure_logging(s.log_level)
    uvicorn.run(app, host=host or s.host, port=port or s.port, log_level=s.log_level, log_config=None,
                ssl_certfile=s.tls_cert, ssl_keyfile=s.tls_key)


def build() -> typer.Typer:
    app = typer.Typer(help="Concord — keeps customer lifecycle data consistent across CRM, ERP, billing, "
                           "support and identity.", no_args_is_help=True, pretty_exceptions_enable=False)
    app.command()(config_cmds.init)
    app.command()(serve)
    app.command()(data_cmds.ingest)
    app.command()(demo_cmd.demo)
    app.command()(sync_cmd.sync)
    app.command()(dedupe)
    app.add_typer(data_cmds.show_app, name="show")
    app.add_typer(data_cmds.approvals_app, name="approvals")
    app.add_typer(config_cmds.mappings_app, name="mappings")
    app.add_typer(ownership_cmds.ownership_app, name="ownership")
    app.add_typer(config_cmds.schema_app, name="schema")
    app.add_typer(sandbox_cmds.sandbox_app, name="sandbox")
    events_cmds.register(app)
    security_cmds.register(app)
    worker_cmds.register(app)
    reconciliation_cli.register(app)
    workflow_cmds.register(app)
    lifecycle_cmds.register(app)
    return app


def main() -> None:
    build()()
