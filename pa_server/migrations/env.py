"""Alembic environment: runs on the engine the application hands over (or PA_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from pa_server.db.engine import make_engine
from pa_server.db.models import Base

config = context.config


def _engine() -> Engine:
    given = config.attributes.get("engine")
    if isinstance(given, Engine):
        return given
    from pa_server.config import get_settings

    return make_engine(get_settings().resolved_database_url)


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things: batch mode copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
