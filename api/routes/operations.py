"""Operations: liveness, readiness (database, index, model) and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from matching.db.migrate import current_revision, head_revision
from matching.db.repositories import searchable_ids
from matching.domain import Lane
from matching.engine import MatchingEngine

router = APIRouter(tags=["operations"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ModelVersion(Collector):
    """stegvis_model_info{version="…"} 1 for the ranker serving at the time of the scrape."""

    def __init__(self, version: Callable[[], str | None]) -> None:
        self.version = version

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "stegvis_model_info", "The ranker version serving suggestions.", labels=["version"]
        )
        version = self.version()
        if version is not None:
            family.add_metric([version], 1.0)
        yield family


class Metrics:
    """The metrics of one app, in a registry of its own (tests create many apps)."""

    def __init__(self, version: Callable[[], str | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "stegvis_http_request_duration_seconds",
            "Time to answer a request, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.suggestions = Counter(
            "stegvis_suggestions",
            "Suggestions shown, per lane.",
            ["lane"],
            registry=self.registry,
        )
        self.slates = Counter(
            "stegvis_suggestion_slates",
            "Suggestion requests answered, per lane.",
            ["lane"],
            registry=self.registry,
        )
        self.version = _ModelVersion(version)
        self.registry.register(self.version)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format.

        With several serving processes (`stegvis serve` sets PROMETHEUS_MULTIPROC_DIR for
        them) the counters and histograms are summed over every process; the model version
        is the answering process's.
        """
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        combined = CollectorRegistry(auto_describe=True)
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        combined.register(self.version)
        return generate_latest(combined)

    def shown(self, lane: Lane, count: int) -> None:
        self.slates.labels(lane=lane.value).inc()
        self.suggestions.labels(lane=lane.value).inc(count)


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


@router.get("/health", summary="Liveness: the process answers, and which process it is.")
def health() -> dict[str, str]:
    return {"status": "ok", "process": str(os.getpid())}


def _index_check(
    matcher: MatchingEngine, session_factory: sa.orm.sessionmaker[sa.orm.Session]
) -> str:
    """Each lane's index and catalogue hold exactly the searchable items of the database.

    Membership only, which is cheap at 100k items; `stegvis index verify` also compares
    the texts.
    """
    problems = []
    with session_factory() as session:
        matcher.catch_up(session)  # what other serving processes changed
        for lane in Lane:
            wanted = searchable_ids(session, lane)
            indexed = set(matcher.indexes.stored(lane).index.content_hashes())
            catalogued = matcher.catalogues[lane].ids()
            if indexed != wanted or catalogued != wanted:
                problems.append(
                    f"{lane.value}: {len(wanted - indexed)} missing, {len(indexed - wanted)} stale"
                )
    return "ok" if not problems else "; ".join(problems)


@router.get(
    "/ready",
    summary="Readiness: database reachable and migrated, indexes consistent, model loaded.",
    responses={503: {"description": "Not ready; `checks` says why."}},
)
def ready(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        with state.db_engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        revision = current_revision(state.db_engine)
        checks["database"] = (
            "ok" if revision == head_revision() else f"schema at {revision}, not at head"
        )
    except sa.exc.SQLAlchemyError as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
    matcher: MatchingEngine | None = getattr(state, "matcher", None)
    if matcher is None:
        checks["model"] = checks["index"] = "not loaded"
    else:
        checks["model"] = "ok" if matcher.ranker.current()[1] else "no ranker"
        if checks["database"] == "ok":
            try:
                checks["index"] = _index_check(matcher, state.session_factory)
            except Exception as error:  # a broken index must answer "not ready", not 500
                checks["index"] = f"cannot be checked: {type(error).__name__}"
        else:
            checks["index"] = "not checked"
    ok = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks}
    if matcher is not None:
        # Informational: which encoder serves, and one being embedded in the background.
        body["encoder"] = {
            "version": matcher.encoder_version,
            "model_id": matcher.encoder.model_id,
            "switching_to": matcher.encoder_switching_to,
        }
    watcher = getattr(state, "champion_watcher", None)
    if watcher is not None:
        # Informational: without the registry the app keeps serving the model it has.
        body["model_registry"] = watcher.status().ready_check()
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: request latency, suggestions per lane, model version.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    return Response(metrics_of(request).exposition(), media_type=CONTENT_TYPE_LATEST)
