"""The server tests' database, fake and client fixtures (see `server_fixtures`, `district`)."""

from tests.pa_server.district import district
from tests.pa_server.server_fixtures import (
    api,
    db_url,
    engine,
    pg_database,
    session,
    sessions,
    sqlite_template,
)

__all__ = [
    "api",
    "db_url",
    "district",
    "engine",
    "pg_database",
    "session",
    "sessions",
    "sqlite_template",
]
