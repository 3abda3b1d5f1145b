"""Backfill from the Salesforce twin through the real CLI in a subprocess: SIGKILLed mid-run and rerun, it ends
in exactly the state of an uninterrupted load — every record once, no duplicate customer."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select

from concord.matching.synth import company
from concord.matching.tables import held_changes
from concord.sandbox.common import serve_in_thread
from concord.sandbox.salesforce.app import create_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.storage import tables as t
from concord.storage.engine import make_engine, upgrade

ACCOUNTS = 240
CONCORD = str(Path(sys.executable).with_name("concord"))


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    settings = SalesforceTwinSettings()
    app = create_app(settings)
    handle = serve_in_thread(app)
    rng = random.Random(3)
    ids = []
    for key in range(ACCOUNTS):
        c = company(rng, key)
        ids.append(app.state.store.inject("Account", {
            "Name": f"{c.brand} {c.trade}", "Website": f"https://{c.domain}", "Phone": f"+1 512 {c.phone}",
            "ShippingCity": c.city, "ShippingPostalCode": c.postcode}))
    config = Path(tmp_path_factory.mktemp("backfill")) / "connectors.yaml"
    config.write_text(yaml.safe_dump({"salesforce": {
        "login_url": handle.base_url, "client_id": settings.client_id, "client_secret": settings.client_secret,
        "changes_page_size": 20}}))
    yield config, ids
    handle.stop()


def _run(db: Path, config: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CONCORD_DATABASE_URL": f"sqlite:///{db}", "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL"}
    return subprocess.Popen([CONCORD, "backfill", "--system", "salesforce", "--connectors", str(config), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _bound(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.bindings)
                                .where(t.bindings.c.system == "salesforce")).scalar_one())


def _state(engine: Engine) -> tuple[int, int, int, int]:
    b = t.bindings.c
    with engine.connect() as conn:
        bound = conn.execute(select(func.count(), func.count(b.external_id.distinct()))
                             .where(b.system == "salesforce")).one()
        golden = conn.execute(select(func.count()).select_from(t.golden_records)
                              .where(t.golden_records.c.entity == "account")).scalar_one()
        held = conn.execute(select(func.count(held_changes.c.external_id.distinct()))).scalar_one()
    return int(bound[0]), int(bound[1]), int(golden), int(held)


def test_sigkill_mid_backfill_then_rerun_loads_everything_once(twin: tuple[Path, list[str]], tmp_path: Path) -> None:
    config, ids = twin
    reference_db = tmp_path / "reference.db"
    reference = _run(reference_db, config)
    out, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0 and "complete" in out, out

    db = tmp_path / "killed.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    victim = _run(db, config, "--pause", "0.2")
    deadline = time.monotonic() + 120
    while _bound(engine) < ACCOUNTS // 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    partial = _bound(engine)
    assert victim.returncode == -signal.SIGKILL and 0 < partial < ACCOUNTS, partial

    rerun = _run(db, config)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "complete" in out, out
    bindings, distinct, golden, held = _state(engine)
    assert bindings == distinct  # no Salesforce record bound twice
    assert bindings + held == ACCOUNTS  # every record either a customer or waiting for a steward
    with engine.connect() as conn:
        seen = set(conn.execute(select(t.bindings.c.external_id)).scalars())
        seen |= set(conn.execute(select(held_changes.c.external_id)).scalars())
    assert seen == set(ids)
    assert golden <= bindings  # no customer without a record behind it (a killed batch left nothing half-made)
    assert (bindings, distinct, golden, held) == _state(make_engine(f"sqlite:///{reference_db}"))
    engine.dispose()
