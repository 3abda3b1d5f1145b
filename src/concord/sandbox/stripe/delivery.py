"""Webhook delivery: POST each event to every subscribed endpoint, signed, retried with backoff.

Stripe signs every attempt afresh (a new `t=`), so a retried delivery still passes the receiver's
tolerance check. Deliveries run on one background thread; `webhook_sync` delivers inside the request that
caused the event so tests need no waiting.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import httpx

from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.stripe.store import Delivery, StripeObject, StripeStore
from concord.sandbox.stripe.webhooks import sign_payload

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass
class _Job:
    delivery: Delivery
    url: str
    secret: str
    payload: str


class WebhookDispatcher:
    def __init__(self, store: StripeStore, settings: StripeTwinSettings) -> None:
        self._store = store
        self._settings = settings
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=settings.webhook_timeout_s)
        self._payloads: dict[str, str] = {}
        self._lock = threading.Lock()

    def on_event(self, event: StripeObject, payload: str, targets: list[StripeObject]) -> None:
        self._payloads[event["id"]] = payload
        for endpoint in targets:
            self._submit(event["id"], endpoint, payload)

    def redeliver(self, event_id: str, endpoint_id: str | None = None) -> list[Delivery]:
        """Send a past event again to one endpoint, or to every endpoint currently subscribed to its type."""
        event = self._store.require("event", event_id)
        payload = self._payloads[event_id]
        if endpoint_id is not None:
            targets = [self._store.require("webhook_endpoint", endpoint_id)]
        else:
            targets = self._store.endpoints_for(event["type"])
        return [self._submit(event_id, endpoint, payload) for endpoint in targets]

    def _submit(self, event_id: str, endpoint: StripeObject, payload: str) -> Delivery:
        delivery = Delivery(event_id=event_id, endpoint_id=endpoint["id"])
        with self._store.lock:
            self._store.deliveries.append(delivery)
        job = _Job(delivery, endpoint["url"], self._store.endpoint_secrets[endpoint["id"]], payload)
        if self._settings.webhook_sync:
            self._deliver_with_retries(job)
        else:
            self._ensure_worker()
            self._queue.put(job)
        return delivery

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="stripe-twin-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._deliver_with_retries(job)
            finally:
                self._queue.task_done()

    def _deliver_with_retries(self, job: _Job) -> None:
        for attempt in range(1, self._settings.webhook_max_attempts + 1):
            if self._attempt(job):
                self._mark_delivered(job.delivery)
                return
            if attempt < self._settings.webhook_max_attempts:
                time.sleep(self._settings.webhook_retry_base_s * 2 ** (attempt - 1))

    def _attempt(self, job: _Job) -> bool:
        timestamp = int(self._settings.clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": sign_payload(job.secret, job.payload, timestamp),
        }
        job.delivery.attempts += 1
        try:
            response = self._client.post(job.url, content=job.payload.encode("utf-8"), headers=headers)
        except httpx.HTTPError as exc:
            job.delivery.last_error = f"{type(exc).__name__}: {exc}"
            return False
        job.delivery.last_status = response.status_code
        return 200 <= response.status_code < 300

    def _mark_delivered(self, delivery: Delivery) -> None:
        delivery.delivered = True
        with self._store.lock:
            event = self._store.get("event", delivery.event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def reset(self) -> None:
        self.wait_idle()
        self._payloads.clear()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until queued deliveries are done (tests and orderly shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self._client.close()
