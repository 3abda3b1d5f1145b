"""`concord init`, `concord mappings validate`, `concord schema export`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from concord.canonical.models import ENTITY_TYPES
from concord.cli.common import console, fail, runtime, settings
from concord.hubconfig import HubConfig, bundled_config_dir
from concord.mappings.registry import bundled_specs_dir, load_mapping_set
from concord.yamlconf import ConfigError, load_yaml_file

mappings_app = typer.Typer(help="Declarative mappings between systems and the canonical model.")
schema_app = typer.Typer(help="JSON Schema of the canonical entities.")


def init(directory: Annotated[Path, typer.Argument(help="where to write the starter configuration")] = Path("concord"),
         force: Annotated[bool, typer.Option(help="overwrite existing files")] = False) -> None:
    """Write a starter configuration: concord.yaml, ownership.yaml and mappings/ (edit and keep them in git)."""
    if directory.exists() and any(directory.iterdir()) and not force:
        raise fail(f"{directory} is not empty (use --force to overwrite)")
    (directory / "mappings").mkdir(parents=True, exist_ok=True)
    for name in ("concord.yaml", "ownership.yaml"):
        shutil.copyfile(bundled_config_dir() / name, directory / name)
    for spec in sorted(bundled_specs_dir().glob("*.yaml")):
        shutil.copyfile(spec, directory / "mappings" / spec.name)
    console.print(f"wrote starter configuration to [bold]{directory}[/]; use it with "
                  f"[bold]CONCORD_CONFIG_DIR={directory}[/]")


@mappings_app.command("validate")
def validate(directory: Annotated[Path | None, typer.Argument(help="mappings folder (default: configured)")] = None
             ) -> None:
    """Validate every mapping spec, tenant overrides under tenants/<tenant>/ included (and, without DIR, the hub
    and ownership files); errors name file, line and field."""
    try:
        if directory is not None:
            # The tenants an override may be for are known only when the hub file sits beside the folder.
            hub_file = directory.parent / "concord.yaml"
            tenants = set(load_yaml_file(HubConfig, hub_file).tenants) if hub_file.is_file() else None
            specs = load_mapping_set(directory, tenants=tenants).specs()
        else:
            specs = runtime(settings()).mappings.specs()
    except ConfigError as exc:
        raise fail("\n".join(exc.problems)) from exc
    table = Table("mapping", "tenant", "object", "fields", "version")
    for spec in specs:
        table.add_row(escape(spec.label), spec.tenant or "all", spec.object, str(len(spec.fields)), str(spec.version))
    console.print(table)
    overrides = sum(spec.tenant is not None for spec in specs)
    console.print(f"[green]{len(specs) - overrides} mappings valid[/]")
    if overrides:
        console.print(f"[green]{overrides} tenant overrides valid[/]")


@schema_app.command("export")
def export(out: Annotated[Path, typer.Option(help="folder for the JSON Schema files")] = Path("schemas")) -> None:
    """Write one JSON Schema per canonical entity (`<entity>.v<schema_version>.schema.json`)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, model in sorted(ENTITY_TYPES.items()):
        version = model.model_fields["schema_version"].default
        schema = model.model_json_schema()
        schema["$id"] = f"https://concord.dev/schemas/{name}.v{version}.schema.json"
        path = out / f"{name}.v{version}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        console.print(f"wrote {path}")
