"""A local twin of the Salesforce REST API subset Concord uses (OAuth, sObjects, SOQL, collections, limits).

    app = create_app(SalesforceTwinSettings(query_batch_size=5))
    handle = serve_in_thread(app)          # concord.sandbox.common
    app.state.store.tamper("Account", record_id, {"Phone": "555"}, touch=False)   # drift
"""

from concord.sandbox.salesforce.app import create_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.salesforce.store import Store

__all__ = ["SalesforceTwinSettings", "Store", "create_app"]
