"""Salesforce REST connector: Account, Contact and Opportunity for one connected app.

Modules: `config` (SalesforceConfig), `auth` (OAuth client-credentials / refresh-token session, renewed once
after a 401), `client` (HTTP through the resilience runtime, Salesforce error bodies and `Sforce-Limit-Info`
mapped to the typed errors and the rate governor, SOQL literals), `resources` (SalesforceConnector: the
Connector protocol plus `upsert_many` over sObject Collections).
"""

from concord.connectors.salesforce.auth import OAuthSession, Session
from concord.connectors.salesforce.client import DuplicateValue, SalesforceClient, build_governor, soql_literal
from concord.connectors.salesforce.config import SalesforceConfig
from concord.connectors.salesforce.resources import ChangeCursor, SalesforceConnector, UpsertResult

__all__ = [
    "ChangeCursor",
    "DuplicateValue",
    "OAuthSession",
    "SalesforceClient",
    "SalesforceConfig",
    "SalesforceConnector",
    "Session",
    "UpsertResult",
    "build_governor",
    "soql_literal",
]
