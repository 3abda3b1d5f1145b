"""Zendesk Support connector: organizations and users over the Support API (`/api/v2`).

Modules: `config` (ZendeskConfig), `auth` (API-token basic auth or OAuth bearer), `client` (governed,
retried HTTP with Zendesk's error bodies mapped to typed errors, job polling), `resources`
(ZendeskConnector, the Connector protocol plus `upsert_many`).
"""

from concord.connectors.zendesk.auth import TokenRefresher, ZendeskAuth
from concord.connectors.zendesk.client import TooRecentStartTime, ZendeskClient
from concord.connectors.zendesk.config import ZendeskConfig
from concord.connectors.zendesk.resources import BulkItemResult, ZendeskConnector

__all__ = [
    "BulkItemResult",
    "TokenRefresher",
    "TooRecentStartTime",
    "ZendeskAuth",
    "ZendeskClient",
    "ZendeskConfig",
    "ZendeskConnector",
]
