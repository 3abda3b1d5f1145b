"""SCIM 2.0 connector (RFC 7643/7644): provisioning a customer's admin Users and Groups.

Modules: `config` (ScimConfig, ScimFeatures), `auth` (bearer token or none, refreshed once after a 401),
`client` (governed, retried HTTP with the SCIM error schema mapped to typed errors, feature discovery),
`objects` (pure: resource bodies, /Bulk operations, change cursors and pages), `resources` (ScimConnector, the
Connector protocol plus `create_many`, `upsert_many` and membership).
"""

from concord.connectors.scim.auth import ScimAuth, TokenRefresher
from concord.connectors.scim.client import ScimClient
from concord.connectors.scim.config import ScimConfig, ScimFeatures
from concord.connectors.scim.objects import BulkItemResult
from concord.connectors.scim.resources import ScimConnector

__all__ = [
    "BulkItemResult",
    "ScimAuth",
    "ScimClient",
    "ScimConfig",
    "ScimConnector",
    "ScimFeatures",
    "TokenRefresher",
]
