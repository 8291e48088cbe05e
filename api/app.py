"""create_app(settings): the FastAPI application; no work happens at import time.

The lifespan opens the database and, unless a loaded engine is injected (tests share one
across many apps), starts the matching engine: taxonomy, encoder, verified indexes,
catalogues and ranker. Every request gets a request id, is timed into the app's own
Prometheus registry and logged as one key=value line without any participant text.
"""

from __future__ import annotations

import gc
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems, web
from api.admission import FifoGate
from api.deps import authorise
from api.headers import SecurityHeaders
from api.retry import RetryWriteConflicts
from api.routes import (
    asf_providers,
    audit,
    employers,
    exports,
    models,
    openings,
    operations,
    organisations,
    participants,
    placements,
    suggestions,
    users,
)
from api.routes.operations import Metrics
from matching import crashpoints
from matching.db.session import make_engine, make_session_factory, writer_lock
from matching.engine import MatchingEngine, limit_native_threads
from matching.progress import Track, no_progress
from matching.settings import Environment, Settings, configure_logging
from training.registry import ChampionWatcher, EncoderRegistry, EncoderWatcher, ModelRegistry

log = logging.getLogger("stegvis.api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

DESCRIPTION = """\
Explainable job and work-training suggestions for Supported Employment (IPS) job coaches.

Authenticate with an API token: `Authorization: Bearer stv_…`. What each role may do, the
errors (RFC 9457 problem+json) and examples are in `docs/api.md`.
"""

TAGS = [
    {"name": "participants", "description": "Coaches: the participants of their organisation."},
    {"name": "suggestions", "description": "Coaches: ranked suggestions, feedback, outcomes."},
    {"name": "openings", "description": "Employers: their own openings. Coaches: read."},
    {"name": "placements", "description": "ASF providers: their own places. Coaches: read."},
    {"name": "employers", "description": "Admins; an employer reads its own record."},
    {"name": "ASF providers", "description": "Admins; a provider reads its own record."},
    {"name": "organisations", "description": "Admins: the tenants."},
    {"name": "users", "description": "Admins: users and tokens. Everyone: `/me`."},
    {"name": "audit", "description": "Admins: who read or changed participant data."},
    {"name": "exports", "description": "Data team: pseudonymous training data."},
    {"name": "models", "description": "Data team and admins: the serving ranker."},
    {"name": "operations", "description": "Health, readiness, metrics; no token needed."},
]

RESOURCE_ROUTERS = (
    users,
    participants,
    suggestions,
    openings,
    placements,
    employers,
    asf_providers,
    organisations,
    audit,
    exports,
    models,
)


class Observe:
    """Request id, latency histogram and one structured log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(
                method=scope["method"], route=route, status=str(status)
            ).observe(elapsed)
            log.info(
                "request_id=%s method=%s route=%s status=%d latency_ms=%.1f user_id=%s role=%s",
                request_id,
                scope["method"],
                route,
                status,
                elapsed * 1000,
                state.get("user_id", "-"),
                state.get("role", "-"),
            )


def freeze_long_lived() -> None:
    """Keep what lives as long as the process out of the cyclic collector's full passes.

    At 100k openings the engine holds about 1.35 million objects; a full collection walked
    them all and paused the process for 0.6 s (measured), which was every slow request of
    the load benchmark. Objects made later (requests, refreshes) are collected as before.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    *,
    engine: MatchingEngine | None = None,
    registry: ModelRegistry | None = None,
    track: Track = no_progress,
) -> FastAPI:
    """The application. `engine`: an already started matching engine to use (tests), which
    follows `registry` if one is given; an app that starts its own engine follows the
    settings' registry."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_engine = make_engine(
            settings.resolved_database_url, hide_parameters=True, immediate=True
        )
        app.state.db_engine = db_engine
        app.state.session_factory = make_session_factory(db_engine)
        app.state.write_lock = writer_lock(db_engine)
        if engine is None:  # this process serves: requests, not operations, run in parallel
            limit_native_threads(settings.native_threads)
        app.state.matcher = engine or MatchingEngine.start(
            settings,
            app.state.session_factory,
            track=track,
            follow=settings.workers > 1,  # one of several processes: follow the others
        )
        if engine is None or registry is not None:
            # The app serves the registry's champion and follows it.
            app.state.champion_watcher = ChampionWatcher(
                registry or ModelRegistry(settings),
                app.state.matcher.ranker,
                interval=settings.champion_poll_seconds,
            )
            app.state.champion_watcher.start()
            # ... and the registry's champion encoder (switched in the background).
            app.state.encoder_watcher = EncoderWatcher(
                EncoderRegistry(settings),
                app.state.matcher,
                interval=settings.champion_poll_seconds,
            )
            app.state.encoder_watcher.start()
        log.info("serving with ranker %s", app.state.matcher.ranker.current()[1])
        if engine is None:
            freeze_long_lived()
        try:
            yield
        finally:
            if app.state.champion_watcher is not None:
                app.state.champion_watcher.stop()
                app.state.champion_watcher = None
            if app.state.encoder_watcher is not None:
                app.state.encoder_watcher.stop()
                app.state.encoder_watcher = None
            app.state.matcher = None
            if app.state.write_lock is not None:
                app.state.write_lock.close()
            db_engine.dispose()

    app = FastAPI(
        title="Stegvis",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=TAGS,
    )
    crashpoints.arm(settings.crash_at)
    app.state.settings = settings
    app.state.matcher = None
    app.state.champion_watcher = None
    app.state.encoder_watcher = None
    app.state.write_lock = None
    app.state.ranking_gate = FifoGate(settings.ranking_slots) if settings.ranking_slots else None

    def serving_version() -> str | None:
        matcher: MatchingEngine | None = app.state.matcher
        return matcher.ranker.current()[1] if matcher is not None else None

    metrics = Metrics(serving_version)
    app.state.metrics = metrics
    problems.install(app)

    app.include_router(operations.router)
    for module in RESOURCE_ROUTERS:
        app.include_router(
            module.router,
            dependencies=[Depends(authorise)],
            responses=problems.PROBLEM_RESPONSES,
        )
    web.install(app)
    app.add_middleware(RetryWriteConflicts)
    app.add_middleware(problems.BodyLimit)
    app.add_middleware(problems.Unhandled)
    app.add_middleware(Observe, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Content-Language"],
        )
    app.add_middleware(SecurityHeaders, hsts=settings.environment is Environment.PRODUCTION)
    return app


def worker_app() -> FastAPI:
    """The app of one of several serving processes (`uvicorn --factory`, see `stegvis serve`):
    settings from the STEGVIS_* variables the process inherited."""
    settings = Settings()
    configure_logging(settings)
    return create_app(settings)
