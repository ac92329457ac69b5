"""Prometheus metrics, served at `GET /metrics` (FILELINKS_METRICS=false removes the route and
stops the counting).

With `--workers N` every worker counts into its own files under PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode; `filelinks-api serve` sets a fresh directory before any
worker imports this module), and a scrape through any worker adds them all up. Without it (a
test's app, one process), the process's default registry.

Who counts what: the envelope middleware every request (route template, method, status,
latency); uploads and downloads their bytes; the idempotency layer its replays; the error
handlers lock timeouts and database errors; the request log's writer its entries.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # no `_created` series: creation times say nothing here

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)

REQUESTS = Counter(
    "filelinks_requests",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "filelinks_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UPLOADED_BYTES = Counter("filelinks_uploaded_bytes", "Bytes of uploaded files stored.")
DOWNLOADED_BYTES = Counter(
    "filelinks_downloaded_bytes", "Bytes of file contents sent (API downloads and link URLs)."
)
IDEMPOTENT_REPLAYS = Counter(
    "filelinks_idempotent_replays", "Responses replayed for a repeated Idempotency-Key."
)
LOCK_TIMEOUTS = Counter(
    "filelinks_lock_timeouts", "Requests answered 429 lock_timeout (a lock held too long)."
)
DATABASE_ERRORS = Counter(
    "filelinks_database_errors",
    "Requests failed by the database, by kind: lock_timeout (429), unavailable (503), internal (500).",
    ["kind"],
)
BACKGROUND_FAILURES = Counter(
    "filelinks_background_failures",
    "Failures of work that goes on after them (the clock listener, housekeeping), by task and kind.",
    ["task", "kind"],
)
IDEMPOTENCY_UNSETTLED = Counter(
    "filelinks_idempotency_unsettled",
    "Idempotency claims that could not be renewed, stored or released (the database failed);"
    " such a claim is taken over once its lease lapses.",
)
REQUEST_LOG_ENTRIES = Counter(
    "filelinks_request_log_entries",
    "Request log entries: written, dropped (could not be written), pruned (past the limit).",
    ["outcome"],
)

FAULTS_INJECTED = Counter(
    "filelinks_faults_injected",
    "Requests a fault rule acted on (POST /_emulator/faults), by action: error, delay, reset.",
    ["action"],
)

_observers: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    observers = _observers.get(key)
    if observers is None:
        observers = _observers[key] = (
            REQUESTS.labels(route, method, str(status)),
            LATENCY.labels(route),
        )
    observers[0].inc()
    observers[1].observe(seconds)


def exposition() -> bytes:
    """Every metric in Prometheus' text format, summed over the workers in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
