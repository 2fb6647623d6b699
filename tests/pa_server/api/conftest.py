from tests.pa_server.server_fixtures import api, db_url, engine, pg_database, session, sessions

__all__ = ["api", "db_url", "engine", "pg_database", "session", "sessions"]
