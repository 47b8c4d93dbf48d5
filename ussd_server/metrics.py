"""Prometheus metrics at ``/metrics``: HTTP requests, USSD hops, the PIN queue, SMS lag, payments, the ledger, jobs.

Each app has its own registry (tests run many apps in one process; the
client's global registry would refuse the second). Values that live in the
database (outbox rows by status, transfers in the ledger) are read when
``/metrics`` is scraped, so every process reports the same, exact numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.kernel.clock import MICROS_PER_SECOND
from engine.notifications.model import OutboxStatus
from engine.payments.model import Payment
from engine.platform import Platform
from engine.scheduler.runner import RunReport
from ussd_server.kdf_pool import KdfPool

# Hops are answered in milliseconds; the gateway gives up after ~10 s.
HOP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# An SMS should leave within seconds; minutes mean the provider or the worker is struggling.
SMS_LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
UNMATCHED = "unmatched"  # the route label of a request no route matched (never the raw path)


class PinQueueCollector(Collector):
    """The KDF queue as it is when scraped."""

    def __init__(self, pool: KdfPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pool = self._pool
        yield GaugeMetricFamily("enerlectra_pin_queue_pending", "PIN checks queued or running", value=pool.pending)
        yield GaugeMetricFamily(
            "enerlectra_pin_queue_expected_wait_seconds",
            "How long a PIN check admitted now would wait",
            value=pool.expected_wait_s(),
        )
        yield CounterMetricFamily("enerlectra_pin_checks_shed", "PIN checks refused as busy", value=pool.shed)
        yield CounterMetricFamily("enerlectra_pin_kdf_runs", "PIN KDF runs (hashes and checks)", value=pool.runs)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "enerlectra_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "enerlectra_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=HOP_BUCKETS,
            registry=self.registry,
        )
        self.ussd_hops = Counter(
            "enerlectra_ussd_hops",
            "USSD hops by the screen they ended on and their outcome",
            ["screen", "outcome"],
            registry=self.registry,
        )
        self.ussd_hop_seconds = Histogram(
            "enerlectra_ussd_hop_seconds", "USSD hop latency", buckets=HOP_BUCKETS, registry=self.registry
        )
        self.sms_lag = Histogram(
            "enerlectra_sms_outbox_lag_seconds",
            "From an SMS being queued to the provider accepting it",
            buckets=SMS_LAG_BUCKETS,
            registry=self.registry,
        )
        self.outbox_rows = Gauge(
            "enerlectra_sms_outbox_rows", "SMS outbox rows by status", ["status"], registry=self.registry
        )
        self.payment_steps = Counter(
            "enerlectra_payment_steps",
            "Steps taken with mobile-money providers, by direction, provider and the state they left the payment in",
            ["direction", "provider", "state"],
            registry=self.registry,
        )
        self.payments = Gauge(
            "enerlectra_payments",
            "Payments by state (`review`: waiting for an operator)",
            ["state"],
            registry=self.registry,
        )
        self.ledger_transfers = Gauge(
            "enerlectra_ledger_transfers",
            "Transfers applied to the ledger (its chain's length)",
            registry=self.registry,
        )
        self.scheduler_jobs = Gauge(
            "enerlectra_scheduler_jobs",
            "Scheduled jobs by state (`due`: now or later; `overdue`: due and not running; `dead`: for an operator)",
            ["state"],
            registry=self.registry,
        )
        self.scheduler_lag = Gauge(
            "enerlectra_scheduler_lag_seconds",
            "How long the oldest overdue job has waited past its due time (0: nothing overdue)",
            registry=self.registry,
        )
        self.scheduler_runs = Counter(
            "enerlectra_scheduler_job_runs",
            "Jobs this process ran, by outcome (finished, failed: retried later, dead, lost: settled by another)",
            ["outcome"],
            registry=self.registry,
        )

    def watch_pin_queue(self, pool: KdfPool) -> None:
        """Report ``pool``'s queue (called once the app has made it)."""
        self.registry.register(PinQueueCollector(pool))

    def observe_hop(self, screen: str, outcome: str, seconds: float) -> None:
        self.ussd_hops.labels(screen, outcome).inc()
        self.ussd_hop_seconds.observe(seconds)

    def observe_payment(self, payment: Payment) -> None:
        self.payment_steps.labels(payment.direction.value, payment.provider.value, payment.state.value).inc()

    def observe_sms_sent(self, lag_s: float) -> None:
        self.sms_lag.observe(max(lag_s, 0.0))

    def observe_scheduler(self, report: RunReport) -> None:
        for outcome, count in (
            ("finished", report.finished),
            ("failed", report.failed),
            ("dead", report.dead),
            ("lost", report.lost),
        ):
            if count:
                self.scheduler_runs.labels(outcome).inc(count)

    async def refresh_from(self, platform: Platform) -> None:
        """Read what lives in the database (at scrape time; a failing read leaves the last values)."""
        counts = await platform.sms_outbox.outbox_counts()
        for status in OutboxStatus:
            self.outbox_rows.labels(status.value).set(counts.get(status, 0))
        self.ledger_transfers.set(await platform.ledger_length())
        for state, count in (await platform.payments.counts()).items():
            self.payments.labels(state).set(count)
        jobs = await platform.scheduler.counts()
        for state, count in (("due", jobs.due), ("overdue", jobs.overdue), ("dead", jobs.dead), ("done", jobs.done)):
            self.scheduler_jobs.labels(state).set(count)
        lag_us = platform.clock.now_us() - jobs.oldest_due_us if jobs.oldest_due_us is not None else 0
        self.scheduler_lag.set(max(lag_us, 0) / MICROS_PER_SECOND)

    def middleware(self) -> Middleware:
        @web.middleware
        async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                route = _route_label(request)
                self.http_requests.labels(route, request.method, str(status)).inc()
                self.http_seconds.labels(route).observe(time.perf_counter() - started)

        return count_requests

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _route_label(request: web.Request) -> str:
    """The route's pattern (``/api/v1/offers/{offer_id}``), never the raw path: labels must stay few."""
    route = request.match_info.route
    info = route.resource.get_info() if route.resource is not None else {}
    return str(info.get("formatter") or info.get("path") or UNMATCHED)


__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]
