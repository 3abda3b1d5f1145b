"""Fixtures of the scale tests: a fresh PostgreSQL database and throw-away stream names on the shared NATS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from concord.scale.bus import ChangeBus
from concord.scale.settings import ScaleSettings
from tests.services import fresh_postgres_database, require


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def throwaway(nats_urls: str = "nats://127.0.0.1:4222", **overrides: object) -> ScaleSettings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {"nats_urls": nats_urls, "stream": f"TEST_CHANGES_{tag}",
                                 "subject_prefix": f"testchg{tag}", "partitions": 8, "lease_ttl_s": 3.0,
                                 "heartbeat_s": 0.5}
    values.update(overrides)
    return ScaleSettings.model_validate(values)


@pytest.fixture
def scale() -> Iterator[ScaleSettings]:
    require("NATS", "127.0.0.1", 4222)
    settings = throwaway()
    yield settings
    bus = ChangeBus(settings)
    bus.delete_stream()
    bus.close()
