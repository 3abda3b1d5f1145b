"""Which systems a workflow worker talks to, and how: one validated config per system, from a YAML file.

    salesforce: {login_url: ..., client_id: ..., client_secret: ...}
    tryton: {url: ..., database: ..., password_ref: "env:TRYTON_PASSWORD", company_id: 1}
    stripe: {base_url: ..., api_key: ...}
    zendesk: {base_url: ..., email: ..., api_token: ...}
    scim: {base_url: ..., bearer_token: ...}

Every section is optional: a worker without a system cannot run the steps that need it (they fail loudly).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from concord.connectors.base import Connector
from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from concord.connectors.scim import ScimConfig, ScimConnector
from concord.connectors.stripe import StripeConfig, StripeConnector
from concord.connectors.tryton import TrytonConfig, TrytonConnector
from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
from concord.yamlconf import load_yaml_file


class Connections(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    salesforce: SalesforceConfig | None = None
    tryton: TrytonConfig | None = None
    stripe: StripeConfig | None = None
    zendesk: ZendeskConfig | None = None
    scim: ScimConfig | None = None

    @classmethod
    def load(cls, path: Path) -> Connections:
        return load_yaml_file(cls, path)

    def build(self) -> dict[str, Connector]:
        """One connector per configured system (nothing connects until the first call, except SCIM's
        feature discovery, which asks the provider what it supports)."""
        built: dict[str, Connector] = {}
        if self.salesforce is not None:
            built["salesforce"] = SalesforceConnector(self.salesforce)
        if self.tryton is not None:
            built["tryton"] = TrytonConnector(self.tryton)
        if self.stripe is not None:
            built["stripe"] = StripeConnector(self.stripe)
        if self.zendesk is not None:
            built["zendesk"] = ZendeskConnector(self.zendesk)
        if self.scim is not None:
            built["scim"] = ScimConnector(self.scim).discover()
        return built
