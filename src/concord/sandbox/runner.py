"""Starting the whole sandbox — the four SaaS twins and a real Tryton server — for the demo and local work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.hubspot.app import create_app as hubspot_app
from concord.sandbox.hubspot.settings import HubSpotTwinSettings
from concord.sandbox.salesforce.app import create_app as salesforce_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.stripe.app import create_app as stripe_app
from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.zendesk.app import create_app as zendesk_app
from concord.sandbox.zendesk.settings import ZendeskTwinSettings


@dataclass
class SandboxSettings:
    base_port: int = 0  # 0: free ports; else salesforce=base, hubspot=base+1, stripe=base+2, zendesk=base+3
    tryton: bool = True
    salesforce: SalesforceTwinSettings = field(default_factory=SalesforceTwinSettings)
    hubspot: HubSpotTwinSettings = field(default_factory=HubSpotTwinSettings)
    stripe: StripeTwinSettings = field(default_factory=StripeTwinSettings)
    zendesk: ZendeskTwinSettings = field(default_factory=ZendeskTwinSettings)


@dataclass
class Sandbox:
    """What is running: each system's base URL and the app objects (twins' state for inspection)."""

    urls: dict[str, str]
    apps: dict[str, Any]
    settings: SandboxSettings
    tryton: Any | None = None  # a concord.sandbox.tryton.TrytonServer when started


def _port(base: int, offset: int) -> int:
    return base + offset if base else 0


@contextmanager
def sandbox(settings: SandboxSettings | None = None) -> Iterator[Sandbox]:
    """Start the twins (and Tryton unless disabled); stop everything on exit."""
    settings = settings or SandboxSettings()
    apps: dict[str, Any] = {
        "salesforce": salesforce_app(settings.salesforce), "hubspot": hubspot_app(settings.hubspot),
        "stripe": stripe_app(settings.stripe), "zendesk": zendesk_app(settings.zendesk)}
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for offset, (name, app) in enumerate(apps.items()):
            handle: ServerHandle = serve_in_thread(app, port=_port(settings.base_port, offset))
            stack.callback(handle.stop)
            urls[name] = handle.base_url
        erp = None
        if settings.tryton:
            from concord.sandbox.tryton import TrytonServer, TrytonServerSettings

            erp = stack.enter_context(TrytonServer(TrytonServerSettings(port=_port(settings.base_port, 4))))
            urls["tryton"] = erp.url
        yield Sandbox(urls=urls, apps=apps, settings=settings, tryton=erp)
