"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI, Response

from audio.worker import RendererConfig, RenderWorker
from devices.protocol import utc_now
from pa_server.api import errors
from pa_server.api.body_limit import BodyLimit
from pa_server.api.live import install as install_live_mic
from pa_server.api.media import router as media_router
from pa_server.api.request_line import SafeRequestLine
from pa_server.api.router import api_router
from pa_server.api.server_time import ServerTimeHeader
from pa_server.auth.audit import audited
from pa_server.auth.demo import seed_accounts
from pa_server.config import Settings
from pa_server.db.engine import make_engine, session_factory, upgrade
from pa_server.live.sources import MicRegistry
from pa_server.metrics import (
    BusCounters,
    CountingRenderer,
    FleetCounts,
    PaMetrics,
    render_metrics,
)
from pa_server.schemas.common import ErrorBody
from pa_server.services import live
from pa_server.services.reports import fleet_counts
from pa_server.services.timelines import plan_cuts
from pa_server.web import install_web

log = logging.getLogger(__name__)

#: The routes that take a recording: the only bodies allowed past `max_body_bytes`.
UPLOAD_PATHS = (r"/api/v1/announcements/[^/]+/recording", r"/thong-bao/moi/ghi-am")


def build_renderer(settings: Settings) -> RenderWorker:
    """Renders in worker processes (started at the first render): a long render never blocks
    the API, and its memory is the worker's, not the server's."""
    config = RendererConfig(
        settings.media_dir, settings.cache_dir, settings.gtts_timeout_s, settings.tts_piper_model
    )
    return RenderWorker(
        config, processes=settings.render_processes, max_pending=settings.render_queue
    )


def create_app(settings: Settings, *, background: bool = True, demo: bool = False) -> FastAPI:
    """Build the app for `settings` (tests pass their own).

    `background=False` runs no broker, bus or planner loop (tests inject a dispatcher);
    `demo=True` seeds a demo district into an empty database at start-up.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        app.state.engine = engine
        app.state.sessions = audited(session_factory(engine))
        app.state.on_plan_change = lambda: None
        app.state.live = live.LiveHub(None, reason_vi=live.NOT_STARTED_VI, mics=app.state.live_mics)
        worker = build_renderer(settings)
        app.state.renderer = CountingRenderer(worker, app.state.metrics)
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        if demo:
            from pa_server.services.demo import seed

            seed(app.state.sessions, settings, renderer=app.state.renderer)
            seed_accounts(app.state.sessions, now=utc_now())
        with ExitStack() as stack:
            stack.callback(worker.close)
            if background:
                from pa_server.runtime import Runtime

                runtime = stack.enter_context(
                    Runtime(settings, app.state.sessions, metrics=app.state.metrics)
                )
                app.state.runtime = runtime
                app.state.keys = runtime.keys
                app.state.dispatcher = runtime.dispatcher
                app.state.on_plan_change = runtime.request_replan
                hub = live.open_hub(
                    settings,
                    app.state.sessions,
                    app.state.live_mics,
                    dispatcher=lambda: runtime.dispatcher,
                    on_plan_change=runtime.request_replan,
                )
                # Closed before the runtime stops: each session's end still sends its `stop`.
                stack.callback(hub.close)
                runtime.live = hub
                app.state.live = hub
                from pa_server.alerts.poller import FeedPoller

                stack.enter_context(
                    FeedPoller(
                        settings,
                        app.state.sessions,
                        clock=utc_now,
                        renderer=app.state.renderer,
                        dispatcher=lambda: runtime.dispatcher,
                        on_plan_change=runtime.request_replan,
                        is_leader=lambda: runtime.leader.is_leader,
                    )
                )
            yield
        engine.dispose()

    app = FastAPI(
        title="Commune PA server",
        version="0.1.0",
        description="Vietnamese commune public-address system: announcements, schedules, "
        "broadcasts over MQTT to loudspeaker agents, and proof of broadcast.",
        lifespan=lifespan,
        # Every 4xx has one body (see `api.errors`); say so, in place of FastAPI's default 422.
        responses={"4XX": {"model": ErrorBody, "description": "Refused: code and message"}},
    )
    app.state.settings = settings
    app.state.clock = utc_now  # what /metrics calls "now" (tests pin it)
    errors.install(app)
    app.include_router(api_router())
    app.include_router(media_router)
    install_live_mic(app, MicRegistry())  # app.state.live_mics: the microphones' WebSocket
    # Added before the time header, so it wraps them: their refusals carry the server time too.
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        upload_paths=UPLOAD_PATHS,
    )
    app.add_middleware(SafeRequestLine)
    app.add_middleware(ServerTimeHeader)
    install_web(app, settings)

    def fleet() -> FleetCounts:
        with app.state.sessions() as session:
            return fleet_counts(
                session,
                now=app.state.clock(),
                drift_threshold_s=settings.clock_drift_threshold_s,
            )

    def bus() -> BusCounters | None:
        runtime = getattr(app.state, "runtime", None)
        return runtime.bus if runtime is not None else None

    def is_leader() -> bool:
        runtime = getattr(app.state, "runtime", None)
        return bool(runtime is not None and runtime.leader.is_leader)

    def cuts() -> dict[str, int]:
        with app.state.sessions() as session:
            return plan_cuts(session)

    app.state.metrics = PaMetrics(fleet=fleet, bus=bus, is_leader=is_leader, plan_cuts=cuts)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = render_metrics(app.state.metrics)
        return Response(content=body, media_type=content_type)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str | bool]:
        """Liveness, and whether this replica is the one dispatching (holds the lease)."""
        return {"status": "ok", "dispatcher": is_leader()}

    return app
