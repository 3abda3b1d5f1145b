"""Building Salesforce connectors against the twin (or a mock transport) for tests and conformance."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from concord.connectors.runtime.clock import Clock, ManualClock
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from concord.sandbox.salesforce import SalesforceTwinSettings

TWIN = SalesforceTwinSettings()
CLIENT_ID = TWIN.client_id
CLIENT_SECRET = TWIN.client_secret
FAST_RETRY = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05, max_elapsed_s=3600.0)
MOCK_INSTANCE = "https://concord-test.my.salesforce.com"
MOCK_TOKEN = "00D5g00000TWINA!AQmockaccesstokenvalue1234567890"


def config_for(login_url: str, **overrides: object) -> SalesforceConfig:
    values: dict[str, object] = {
        "login_url": login_url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "retry": FAST_RETRY,
    }
    values.update(overrides)
    return SalesforceConfig.model_validate(values)


def connector_for(
    login_url: str,
    *,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
    **overrides: object,
) -> SalesforceConnector:
    """A connector on a manual clock (retry and governor waits cost no time) with an in-memory recorder."""
    return build(config_for(login_url, **overrides), clock, transport)


def build(
    config: SalesforceConfig, clock: Clock | None = None, transport: httpx.BaseTransport | None = None
) -> SalesforceConnector:
    return SalesforceConnector(
        config, clock=clock or ManualClock(), recorder=InMemoryCallRecorder(), transport=transport,
        rng=random.Random(7),
    )


def recorder_of(connector: SalesforceConnector) -> InMemoryCallRecorder:
    recorder = connector.client.recorder
    assert isinstance(recorder, InMemoryCallRecorder)
    return recorder


def operations(connector: SalesforceConnector, name: str) -> int:
    return sum(1 for sample in recorder_of(connector).samples if sample.operation == name)


Handler = Callable[[httpx.Request], httpx.Response]


def token_response() -> httpx.Response:
    return httpx.Response(200, json={
        "access_token": MOCK_TOKEN, "instance_url": MOCK_INSTANCE, "token_type": "Bearer",
        "id": f"{MOCK_INSTANCE}/id/00D5g00000TWINAEA5/0055g00000TWINUAA5", "issued_at": "1700000000000",
        "signature": "c2lnbmF0dXJl", "scope": "api",
    })


def mock_connector(data: Handler, **overrides: object) -> SalesforceConnector:
    """A connector whose token endpoint always grants a session and whose data calls `data` answers."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return token_response()
        return data(request)

    return build(config_for("https://login.example.test", **overrides), transport=httpx.MockTransport(route))
