"""A local twin of the Zendesk Support API subset Concord uses: organizations and users (where support
entitlements live), bulk jobs, incremental exports for change capture, auth and the per-minute rate limit.
"""

from concord.sandbox.zendesk.app import create_app
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.sandbox.zendesk.store import ZendeskStore

__all__ = ["ZendeskStore", "ZendeskTwinSettings", "create_app"]
