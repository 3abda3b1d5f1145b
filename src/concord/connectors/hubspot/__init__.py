"""HubSpot CRM v3 connector: companies, contacts and deals for a private app.

Modules: `config` (HubSpotConfig), `auth` (private-app bearer token, re-read once after a 401), `client`
(HTTP through the resilience runtime, HubSpot error bodies and limit headers mapped to the typed errors and
the rate governor), `objects` (pure: property spellings, search and change bodies, the change cursor, records),
`resources` (HubSpotConnector, the Connector protocol plus batch upsert/create/update).
"""

from concord.connectors.hubspot.client import HubSpotClient, build_governor, header_rules
from concord.connectors.hubspot.config import HubSpotConfig
from concord.connectors.hubspot.objects import BatchOutcome, ChangeCursor
from concord.connectors.hubspot.resources import HubSpotConnector

__all__ = [
    "BatchOutcome",
    "ChangeCursor",
    "HubSpotClient",
    "HubSpotConfig",
    "HubSpotConnector",
    "build_governor",
    "header_rules",
]
