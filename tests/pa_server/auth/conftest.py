"""A real app with accounts on (no `current_user` override), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pa_server.app import create_app
from pa_server.auth import accounts, audit
from pa_server.auth.models import AuditEntry
from pa_server.auth.sessions import COOKIE_NAME, CSRF_HEADER
from pa_server.config import Settings

PASSWORD = "mat-khau-thu-1"


@dataclass
class Site:
    """A client on the app, and ways to sign in and look at the store."""

    client: TestClient
    app: FastAPI

    @property
    def sessions(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.sessions
        return factory

    def add_user(self, username: str, role: str = "admin", zones: tuple[str, ...] = ()) -> int:
        with self.sessions() as db:
            user = accounts.create_user(
                db, username, role=role, password=PASSWORD, zones=zones, now=datetime.now(UTC)
            )
            db.commit()
            return user.id

    def csrf_of(self, cookie: str) -> str:
        session = self.app.state.auth.codec.loads(cookie)
        assert session is not None
        return str(session.csrf)

    def sign_in(self, username: str, password: str = PASSWORD) -> str:
        """Sign in through the form; the signed-in session cookie."""
        self.client.cookies.clear()
        self.client.get("/dang-nhap")
        anonymous = self.client.cookies[COOKIE_NAME]
        response = self.client.post(
            "/dang-nhap",
            data={
                "username": username,
                "password": password,
                "csrf_token": self.csrf_of(anonymous),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        cookie = str(self.client.cookies[COOKIE_NAME])
        self.client.cookies.clear()
        return cookie

    def as_cookie(self, cookie: str, method: str, url: str, **kw: Any) -> httpx.Response:
        """A request carrying `cookie` (and its CSRF token for writes), nothing else."""
        self.client.cookies.clear()
        headers = {CSRF_HEADER: self.csrf_of(cookie)} if method != "GET" else {}
        self.client.cookies.set(COOKIE_NAME, cookie)
        try:
            response: httpx.Response = self.client.request(
                method, url, headers=headers, follow_redirects=False, **kw
            )
            return response
        finally:
            self.client.cookies.clear()

    def audit_entries(self, action: str) -> list[AuditEntry]:
        with self.sessions() as db:
            return [e for e in audit.entries(db) if e.action == action]


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, public_url="http://pa.test:8000"
    )
    app = create_app(settings, background=False)
    with TestClient(app) as client:
        yield Site(client, app)
