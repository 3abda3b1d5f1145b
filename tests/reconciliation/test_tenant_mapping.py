"""Reconciliation reads a system with the tenant's own mapping when it has an override (decision 071)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import yaml

from concord.hubconfig import bundled_config_dir, load_runtime
from concord.mappings.registry import bundled_specs_dir
from concord.reconciliation.engine import Reconciler


def test_reconciler_takes_the_tenants_override(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("concord.yaml", "ownership.yaml"):
        shutil.copyfile(bundled_config_dir() / name, conf / name)
    shutil.copytree(bundled_specs_dir(), conf / "mappings")
    spec = yaml.safe_load((bundled_specs_dir() / "salesforce_account.yaml").read_text())
    (conf / "mappings" / "tenants" / "default").mkdir(parents=True)
    (conf / "mappings" / "tenants" / "default" / "salesforce_account.yaml").write_text(
        yaml.safe_dump({**spec, "object": "Customer__c"}))
    runtime = load_runtime(conf)
    unused = cast(Any, None)  # neither the database nor the system is touched before run()
    mine = Reconciler(unused, runtime, "default", "salesforce", "account", unused)
    theirs = Reconciler(unused, runtime, "sandbox", "salesforce", "account", unused)
    assert (mine.obj, mine.cursor_key) == ("Customer__c", "reconcile:Customer__c")
    assert theirs.obj == "Account"
