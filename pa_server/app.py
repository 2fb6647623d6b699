"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from pa_server.config import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the app for `settings` (tests pass their own)."""
    app = FastAPI(title="Commune PA server", version="0.1.0")
    app.state.settings = settings

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
