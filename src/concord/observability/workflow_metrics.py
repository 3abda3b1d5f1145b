"""Workflow runs as Prometheus figures, read from the journal at scrape time (like `DatabaseCollector`: the
journal is the truth, shared by every process hosting workflows, so no counter can drift from it).

- `concord_workflow_runs{tenant, process, status}`: runs by status (PENDING, SUCCESS, ERROR,
  MAX_RECOVERY_ATTEMPTS_EXCEEDED) — failed and given-up runs are what an operator alerts on;
- `concord_workflow_oldest_pending_seconds{tenant, process}`: how long the oldest unfinished run has been going
  (a run waiting on a person for days shows here before anyone asks why a customer is blocked);
- `concord_workflow_executors{tenant="*"}`: processes registered to run workflows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from concord.observability.logs import UNKNOWN_TENANT
from concord.workflows.journal.client import JournalClient

HUB_WIDE = "*"


class WorkflowCollector(Collector):
    """`url_of` gives the journal's URL per scrape (None: no workflows here). The client is kept between
    scrapes; a journal that does not exist yet yields nothing."""

    def __init__(self, url_of: Callable[[], str | None]) -> None:
        self._url_of = url_of
        self._client: tuple[str, JournalClient] | None = None
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not touch the journal

    def collect(self) -> Iterator[Metric]:
        client = self._client_for(self._url_of())
        if client is None:
            return
        census, executors = client.census(time.time()), client.executors()
        runs = GaugeMetricFamily("concord_workflow_runs", "Workflow runs by status",
                                 labels=["tenant", "process", "status"])
        oldest = GaugeMetricFamily("concord_workflow_oldest_pending_seconds",
                                   "Age of the oldest unfinished workflow run", labels=["tenant", "process"])
        for tenant, name, status, count, age in census:
            runs.add_metric([tenant or UNKNOWN_TENANT, name, status], count)
            if status == "PENDING":
                oldest.add_metric([tenant or UNKNOWN_TENANT, name], age)
        live = GaugeMetricFamily("concord_workflow_executors", "Processes registered to run workflows",
                                 labels=["tenant"])
        live.add_metric([HUB_WIDE], executors)
        yield from (runs, oldest, live)

    def _client_for(self, url: str | None) -> JournalClient | None:
        with self._lock:
            if self._client is not None and (url is None or self._client[0] != url or not self._client[1].ready):
                self._client[1].close()
                self._client = None
            if url is not None and self._client is None:
                client = JournalClient(url)
                if not client.ready:
                    client.close()
                    return None
                self._client = (url, client)
            return None if self._client is None else self._client[1]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client[1].close()
                self._client = None
