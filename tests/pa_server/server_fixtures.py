"""Fixtures of the server's storage, services and API tests: databases, fakes, a test client.

Every test that takes `engine` runs twice: on SQLite (a fresh file) and on PostgreSQL (one
database per test session, `pa_test_<random>`, emptied between tests; skipped without
PA_TEST_DATABASE_URL).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Item
from pa_server.api import deps
from pa_server.app import create_app
from pa_server.auth.audit import audited
from pa_server.auth.rights import Actor, Role
from pa_server.config import Settings
from pa_server.db.engine import make_engine, scratch_database, session_factory, upgrade
from pa_server.db.models import Base
from pa_server.metrics import CountingRenderer
from pa_server.services.context import UseCase

NOW = datetime(2026, 8, 9, 22, 0, tzinfo=UTC)  # 05:00 on 10 August in Hà Nội


@pytest.fixture(scope="session")
def pg_database(pg_url: str | None) -> Iterator[str | None]:
    """A PostgreSQL database of our own for this test session, migrated; dropped after."""
    if not pg_url:
        yield None
        return
    with scratch_database(pg_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time costs ~0.5 s)."""
    path = tmp_path_factory.mktemp("template") / "pa.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_database: str | None,
    sqlite_template: Path,
) -> str:
    """The database URL of this test: a fresh SQLite file, or the emptied PostgreSQL one."""
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "pa.db")
        return f"sqlite:///{tmp_path / 'pa.db'}"
    if pg_database is None:
        pytest.skip("PA_TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    engine = make_engine(pg_database)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()
    return pg_database


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on this test's database."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return audited(session_factory(engine))


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


# --------------------------------------------------------------------------- fakes


@dataclass(frozen=True)
class FakeRendition:
    """Same fields as `audio.render.Rendition`."""

    sha256: str
    ext: str
    mime: str
    path: Path
    bytes: int
    duration_ms: int
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    engines: tuple[str, ...]
    fell_back: bool
    cache_hit: bool
    spoken_text: str


class FakeRenderer:
    """Writes the request's text (or recording) as the 'audio' into the media directory."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir
        self.requests: list[Any] = []

    def render(self, req: Any) -> FakeRendition:
        self.requests.append(req)
        data = req.recording if req.recording is not None else (req.text or "").encode()
        sha = hashlib.sha256(data).hexdigest()
        self.media_dir.mkdir(parents=True, exist_ok=True)
        path = self.media_dir / f"{sha}.mp3"
        hit = path.exists()  # like the real render cache: the same input was rendered before
        path.write_bytes(data)
        return FakeRendition(
            sha,
            "mp3",
            "audio/mpeg",
            path,
            len(data),
            30_000,
            -16.0,
            -1.5,
            ("fake",),
            False,
            hit,
            req.text or "",
        )


@dataclass
class FakeDispatcher:
    """Records what would be published; `sync` reports targets whose items changed."""

    syncs: list[dict[str, tuple[Item, ...]]] = field(default_factory=list)
    commands: list[tuple[str, str, Any]] = field(default_factory=list)
    published: dict[str, tuple[Item, ...]] = field(default_factory=dict)
    #: When set, `command` raises it (a broker that is down or does not acknowledge).
    command_error: Exception | None = None

    def sync(
        self, desired: Mapping[str, tuple[Item, ...]], *, now: datetime, horizon_until: datetime
    ) -> list[str]:
        self.syncs.append(dict(desired))
        changed = [t for t, items in desired.items() if self.published.get(t) != items]
        for target in changed:
            self.published[target] = desired[target]
        return changed

    def command(self, target: str, kind: str, body: Any, *, now: datetime) -> None:
        if self.command_error is not None:
            raise self.command_error
        self.commands.append((target, kind, body))

    def stop(self, occurrence_id: str, targets: Any, *, now: datetime) -> list[str]:
        sent = list(dict.fromkeys(targets))
        for target in sent:
            self.command(target, "stop", {"occurrence_id": occurrence_id}, now=now)
        return sent


class FakeKeys:
    def public_keys(self) -> list[dict[str, str]]:
        return [{"kid": "k1", "alg": "Ed25519", "public_key": "AAAA"}]


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


#: Accounts and rights are tested in tests/pa_server/auth and tests/pa_server/web; here a
#: district admin writes and a second person approves (nobody approves their own announcement).
TEST_AUTHOR = Actor(id=0, username="system", role=Role.ADMIN)
TEST_APPROVER = Actor(id=1, username="duyet", role=Role.APPROVER)


def acting_person(request: Request) -> Actor:
    """Stands in for `deps.current_user`: the author, or a second person when approving."""
    return TEST_APPROVER if request.url.path.endswith("/approve") else TEST_AUTHOR


@dataclass
class Api:
    """A test client with its fakes."""

    client: TestClient
    settings: Settings
    clock: Clock
    dispatcher: FakeDispatcher
    renderer: FakeRenderer
    replans: list[int]

    def ok(self, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, url, **kw)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def refused(self, method: str, url: str, code: str, status: int = 422, **kw: Any) -> Any:
        response = self.client.request(method, url, **kw)
        assert response.status_code == status, response.text
        detail = response.json()["detail"]
        assert detail["code"] == code, detail
        assert detail["message"]
        return detail


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on this test's database, no background parts, fakes for rendering and MQTT."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, public_url="http://pa.test:8000"
    )
    app = create_app(settings, background=False)
    clock = Clock()
    dispatcher = FakeDispatcher()
    renderer = FakeRenderer(settings.media_dir)
    replans: list[int] = []
    app.dependency_overrides[deps.get_now] = clock
    app.dependency_overrides[deps.get_dispatcher] = lambda: dispatcher
    counted = CountingRenderer(renderer, app.state.metrics)
    app.dependency_overrides[deps.get_renderer] = lambda: counted
    app.dependency_overrides[deps.get_keys] = FakeKeys
    app.dependency_overrides[deps.current_user] = acting_person
    with TestClient(app) as client:
        app.state.on_plan_change = lambda: replans.append(1)
        app.state.clock = clock
        yield Api(client, settings, clock, dispatcher, renderer, replans)


def use_case(
    session: Session,
    actor: Actor = TEST_AUTHOR,
    *,
    data_dir: Path,
    now: datetime = NOW,
    renderer: Any = None,
    dispatcher: Any = None,
    **settings: Any,
) -> UseCase:
    """A service call's inputs, as the API builds them, for tests that call services directly."""
    config = Settings(data_dir=data_dir, public_url="http://pa.test:8000", **settings)
    return UseCase(session, actor, now, config, dispatcher, renderer)


def add_zone(
    session: Session,
    path: str,
    name: str | None = None,
    *,
    timezone: str = "Asia/Ho_Chi_Minh",
    now: datetime = NOW,
    **fields: Any,
) -> Any:
    """Add a zone at an explicit path as the console's admin (for tests that need a tree, not
    the zone use case itself); returns the `Zone`."""
    from pa_server.schemas.zones import ZoneCreate
    from pa_server.services import zones
    from pa_server.services.context import cli_actor

    uc = UseCase(session, cli_actor(), now, Settings(timezone=timezone))
    return zones.create_zone(uc, ZoneCreate(path=path, name=name or path, **fields))
