"""A local twin of HubSpot's CRM v3 API: objects, batch, search, properties and private-app limits."""

from concord.sandbox.hubspot.app import create_app
from concord.sandbox.hubspot.settings import HubSpotTwinSettings

__all__ = ["HubSpotTwinSettings", "create_app"]
