"""Tryton ERP connector: parties over JSON-RPC (`/<db>/rpc/`) plus the credit side (limits, receivables).

Modules: `config` (TrytonConfig), `auth` (session login and call context), `client` (typed JSON-RPC with
Tryton's value encoding and error classification), `objects` (pure: the party fields read and written, search
and change domains, typed summaries), `resources` (TrytonConnector, the Connector protocol).
"""

from concord.connectors.tryton.client import TrytonClient, TrytonConfigError, TrytonWarning
from concord.connectors.tryton.config import TrytonConfig
from concord.connectors.tryton.objects import InvoiceSummary, Receivables, SaleSummary, SubscriptionSummary
from concord.connectors.tryton.resources import TrytonConnector

__all__ = [
    "InvoiceSummary",
    "Receivables",
    "SaleSummary",
    "SubscriptionSummary",
    "TrytonClient",
    "TrytonConfig",
    "TrytonConfigError",
    "TrytonConnector",
    "TrytonWarning",
]
