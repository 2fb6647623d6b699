from tests.pa_server.server_fixtures import (
    db_url,
    engine,
    pg_database,
    session,
    sessions,
    sqlite_template,
)

__all__ = ["db_url", "engine", "pg_database", "session", "sessions", "sqlite_template"]
