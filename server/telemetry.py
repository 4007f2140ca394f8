"""What operators see of a running server: Prometheus metrics at `GET /metrics` and one JSON log line per request.

Owns the metrics (one registry per app, so tests and several apps in one process never share counters): requests
and latency per route template and status, seconds spent in each step of answering (embedding the question,
retrieval, answering; reported by the assistant through its `observe` hook), the sizes of the question
micro-batches, and the live build's id and age; and the access log: logger `rag.access`, one JSON object per
request with time, method, route, status, latency and the build that answered, never the question unless
`RAG_LOG_QUESTIONS=true`. Under `rag serve --workers N` (`PROMETHEUS_MULTIPROC_DIR` set) every worker writes its
counts into that folder and a scrape of any worker adds up all of them (prometheus-client's multiprocess mode).
Leaves routes and errors to `server.app`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from rag.assistant import Assistant
from rag.config import Settings

access_log = logging.getLogger("rag.access")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class BuildCollector:
    """The live build as metrics, read at scrape time: `rag_build_info{build_id}` and `rag_build_age_seconds`."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def collect(self) -> Any:
        snap = self.assistant.loaded_snapshot()
        if snap is None:
            return
        info = GaugeMetricFamily("rag_build_info", "The index build being served (value 1).", labels=["build_id"])
        info.add_metric([snap.index.build_id], 1.0)
        yield info
        created = snap.index.manifest.get("created_at")
        if created:
            age = GaugeMetricFamily("rag_build_age_seconds", "Seconds since the served build was created.")
            age.add_metric([], (datetime.now(timezone.utc) - datetime.fromisoformat(created)).total_seconds())
            yield age


class Telemetry:
    def __init__(self, settings: Settings, assistant: Assistant) -> None:
        self.settings = settings
        self.assistant = assistant
        self.registry = CollectorRegistry()
        self.requests = Counter("rag_requests_total", "HTTP requests by route, method and status.", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("rag_request_duration_seconds", "HTTP request latency by route and status.", ["route", "status"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.stages = Histogram("rag_stage_duration_seconds", "Seconds in each step of answering a question.", ["stage"],
                                buckets=STAGE_BUCKETS, registry=self.registry)
        self.batches = Histogram("rag_question_batch_size", "Questions embedded together in one model call.",
                                 buckets=BATCH_BUCKETS, registry=self.registry)
        self.registry.register(BuildCollector(assistant))  # type: ignore[arg-type]

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stages.labels(stage).observe(seconds)

    def observe_batch(self, size: int) -> None:
        self.batches.observe(size)

    def exposition(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: the counts of all, from their files
            from prometheus_client import multiprocess

            every = CollectorRegistry()
            multiprocess.MultiProcessCollector(every)
            every.register(BuildCollector(self.assistant))  # type: ignore[arg-type]
            return Response(generate_latest(every), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        """Count, time and log every request (errors included), after the route has been matched."""
        app.add_middleware(_Measured, telemetry=self)

    def record(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"  # the template: no ids in labels
        method = scope.get("method", "")
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, str(status)).observe(seconds)
        snap = self.assistant.loaded_snapshot()
        line: dict[str, Any] = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "method": method,
                                "route": route, "path": scope.get("path", ""), "status": status,
                                "latency_ms": round(1000 * seconds, 2), "build_id": snap.index.build_id if snap else None}
        access = scope.get("state", {}).get("access")
        if access is not None:
            line["key"] = access.name  # the key's name, never the key
        question = scope.get("state", {}).get("question") if self.settings.log_questions else None
        if question is not None:
            line["question"] = question
        access_log.info(json.dumps(line, ensure_ascii=False))


class _Measured:
    """Plain ASGI middleware (no per-request task or body copy): notes the status sent, records when the response ends."""

    def __init__(self, app: Any, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def noting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self.telemetry.record(scope, status[0], time.perf_counter() - started)
