"""Prometheus metrics (prometheus-client), one registry per app: request latency per endpoint,
Gameball latency per endpoint, deliveries by kind and result, and queue gauges read at scrape."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .. import __version__
from ..status import StatusReport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "sidecar_http_request_duration_seconds",
            "Time to answer a local API request, by route, method and status code.",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "sidecar_upstream_request_duration_seconds",
            "Time Gameball took to answer, by Gameball endpoint and outcome.",
            ["endpoint", "method", "outcome"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "sidecar_outbox_deliveries",
            "Delivery attempts of outbox items, by kind and result "
            "(delivered, retry, paused, alarm, dead).",
            ["kind", "result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "sidecar_outbox_queued_items", "Items waiting for Gameball.", registry=r
        )
        self.oldest_age = Gauge(
            "sidecar_outbox_oldest_queued_age_seconds",
            "Age of the oldest item waiting for Gameball.",
            registry=r,
        )
        self.dead_letters = Gauge(
            "sidecar_outbox_dead_letter_items",
            "Items Gameball refused, waiting for a person.",
            registry=r,
        )
        self.online = Gauge(
            "sidecar_gameball_online", "1 when Gameball is reachable, 0 when offline.", registry=r
        )
        self.alarm = Gauge(
            "sidecar_gameball_credentials_alarm",
            "1 while Gameball refuses the store's keys (queue held).",
            registry=r,
        )
        self.offline_seconds = Gauge(
            "sidecar_gameball_offline_seconds",
            "Seconds since Gameball last answered (0 while online); survives restarts.",
            registry=r,
        )
        self.redemption_failed = Gauge(
            "sidecar_outbox_redemption_failed_items",
            "Sales delivered earn-only because the hold they named could not be redeemed.",
            registry=r,
        )
        self.offline_outstanding_points = Gauge(
            "sidecar_offline_redemption_outstanding_points",
            "Points redeemed here while Gameball was unreachable, not at Gameball yet.",
            registry=r,
        )
        self.offline_outstanding_value = Gauge(
            "sidecar_offline_redemption_outstanding_value",
            "Money value of those points: what the merchant is exposed to right now.",
            registry=r,
        )
        self.absorbed_value = Gauge(
            "sidecar_redemption_failed_value",
            "Money value the tills discounted that Gameball did not redeem (redemption_failed).",
            registry=r,
        )
        self.shared_budget_fallback = Gauge(
            "sidecar_pacing_shared_budget_fallback",
            "1 while the shared Redis rate budget does not answer (pacing on the local share).",
            registry=r,
        )
        self.database_bytes = Gauge(
            "sidecar_database_bytes", "Size of the SQLite database.", registry=r
        )
        self.database_limit = Gauge(
            "sidecar_database_limit_bytes",
            "The size the database may grow to (sidecar.max_db_mb).",
            registry=r,
        )
        Gauge(
            "sidecar_build_info", "Always 1; the version is a label.", ["version"], registry=r
        ).labels(__version__).set(1)

    def upstream_call(self, method: str, template: str, seconds: float, outcome: str) -> None:
        # The path template, never the path: one time series per endpoint, not per customer.
        self.upstream_seconds.labels(template, method, outcome).observe(seconds)

    def delivery(self, kind: str, result: str) -> None:
        self.deliveries.labels(kind, result).inc()

    def observe(self, report: StatusReport) -> None:
        """The gauges, from the same report /v1/status answers (read at scrape time)."""
        self.queue_depth.set(report.outbox.queued)
        self.oldest_age.set(report.outbox.oldestQueuedAgeSeconds)
        self.dead_letters.set(report.outbox.deadLetters)
        self.redemption_failed.set(report.outbox.redemptionFailed)
        self.offline_outstanding_points.set(report.offlineRedemption.outstandingPoints)
        self.offline_outstanding_value.set(report.offlineRedemption.outstandingValue)
        self.absorbed_value.set(report.offlineRedemption.absorbedValue)
        self.online.set(1 if report.connectivity.state == "online" else 0)
        self.offline_seconds.set(report.connectivity.offlineForSeconds)
        self.alarm.set(1 if report.alarm.raised else 0)
        self.shared_budget_fallback.set(1 if report.pacing.sharedBudget == "fallback" else 0)
        self.database_bytes.set(report.database.sizeBytes)
        self.database_limit.set(report.database.limitBytes)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def middleware(self, timer: Callable[[], float] = time.perf_counter) -> Middleware:
        histogram = self.request_seconds

        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = timer()
            response = await handler(request)
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            histogram.labels(name, request.method, str(response.status)).observe(timer() - started)
            return response

        return measure
