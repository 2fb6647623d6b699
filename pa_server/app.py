"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from pa_server.config import Settings
from pa_server.web import install_web


def create_app(settings: Settings) -> FastAPI:
    """Build the app for `settings` (tests pass their own)."""
    app = FastAPI(title="Commune PA server", version="0.1.0")
    app.state.settings = settings

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Interim until the server's store lands: the accounts tables on their own engine.
    from pa_server.auth.models import Base

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    Base.metadata.create_all(engine)
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    install_web(app, settings)
    return app
