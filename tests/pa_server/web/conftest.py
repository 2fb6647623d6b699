"""Browser-test harness: the real app on a free port, headless Debian Chromium via Playwright.

Screenshots of every page a test visits land in `test-artifacts/screenshots/` (not committed).
Chromium missing: the browser tests FAIL when `PA_REQUIRE_BROWSER=1` (set by `.ci/run`), and
skip with a loud reason otherwise (a developer machine without it).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Error as PlaywrightError

from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.config import Settings
from tests.pa_server.server_fixtures import add_zone
from tests.support import free_port

CHROMIUM = Path(os.environ.get("PA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
PASSWORD = "mat-khau-thu-1"


@dataclass
class LiveServer:
    """The app running in a thread; `url` is its base address."""

    url: str
    app: Any
    settings: Settings
    users: dict[str, str] = field(default_factory=dict)


def _seed(app: Any) -> None:
    """Three accounts and a small district: huyen → xa-a, xa-b."""
    now = datetime.now(UTC)
    with app.state.sessions() as db:
        for path, name in (("huyen", "Huyện Thử"), ("huyen/xa-a", "Xã A"), ("huyen/xa-b", "Xã B")):
            add_zone(db, path, name, now=now)
        accounts.create_user(db, "quantri", role="admin", password=PASSWORD, now=now)
        accounts.create_user(db, "duyet", role="approver", password=PASSWORD, now=now)
        accounts.create_user(
            db, "vanhanh", role="operator", password=PASSWORD, zones=["huyen/xa-a"], now=now
        )
        db.commit()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app (SQLite in a temp dir, embedded broker on a free port) on a free port."""
    settings = server_settings(tmp_path_factory, "live")
    app = create_app(settings)
    with running(app, settings.port, "live-server"):
        _seed(app)
        yield LiveServer(url=f"http://127.0.0.1:{settings.port}", app=app, settings=settings)


def server_settings(tmp_path_factory: pytest.TempPathFactory, name: str) -> Settings:
    """Settings for a test server: a temp data dir, free ports, the espeak voice, and live
    audio off (`PA_LIVE=false`): the pages' live sessions run on a fake engine
    (`support.seed_world`), and a snapserver costs seconds at every start."""
    return Settings(
        data_dir=tmp_path_factory.mktemp(name) / "data",
        host="127.0.0.1",
        port=free_port(),
        broker_port=free_port(),
        tts_engine="espeak",
        live=False,
    )


@contextmanager
def running(app: Any, port: int, name: str) -> Iterator[None]:
    """Serve `app` on 127.0.0.1:`port` in a thread (its lifespan run) while the block runs."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    # uvicorn flips `started` once listening; wait on it without a fixed sleep (up to 3 min:
    # a demo app renders its announcements first, slow on a loaded machine).
    for _ in range(3600):
        if server.started or not thread.is_alive():
            break
        thread.join(0.05)
    if not server.started:
        pytest.fail(f"the {name} did not start (see the log above)")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def _chromium_or_reason() -> str | None:
    if not CHROMIUM.exists():
        return (
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium) or set PA_CHROMIUM"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


def require_chromium() -> None:
    """Skip (or, under PA_REQUIRE_BROWSER=1, fail) unless Chromium and Playwright are here."""
    reason = _chromium_or_reason()
    if reason is None:
        return
    if os.environ.get("PA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (PA_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")


def microphone_args(wav: Path) -> list[str]:
    """Chromium's flags for a fake microphone that plays `wav`, allowed without a prompt."""
    return [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium (Debian's binary; Playwright's own browsers are never downloaded).

    Also empties the screenshot folder, so it shows this run's pages only.
    """
    require_chromium()
    # Under pytest-xdist every worker runs this fixture; `make test` empties the folder once
    # before the run instead, so one worker never deletes another's screenshots.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        for old in SCREENSHOTS.glob("*.png"):
            old.unlink()

    pw = request.getfixturevalue("playwright_session")
    chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def screenshot(target: Any, path: Path | str, *, full_page: bool = False) -> None:
    """Save a screenshot of a page or an element at `path` (its folder made if missing).

    Chromium now and then answers "Unable to capture screenshot" while a page redraws (the
    broadcast page repaints its live counts): the picture is for people, not an assertion, so
    it is tried again.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"full_page": True} if full_page else {}
    for attempt in range(3):
        try:
            target.screenshot(path=str(path), **options)
            return
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            time.sleep(0.2)


class Visitor:
    """One browser tab against the live server that screenshots every page it lands on."""

    def __init__(self, page: Any, base_url: str, test_name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.prefix = re.sub(r"[^a-z0-9_]+", "-", test_name.lower()).strip("-")
        self.count = 0

    def shot(self, label: str) -> Path:
        """Save a full-page screenshot as `<test>-<n>-<label>.png`."""
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{label}.png"
        screenshot(self.page, path, full_page=True)
        return path

    def go(self, path: str, label: str | None = None) -> Any:
        """Open `path` and screenshot it; returns the response."""
        response = self.page.goto(self.base_url + path)
        self.shot(label or (path.strip("/").replace("/", "-") or "home"))
        return response

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Sign in through the form, as a person would."""
        self.go("/dang-nhap", f"sign-in-{username}")
        self.page.fill("#f-username", username)
        self.page.fill("#f-password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        self.shot(f"signed-in-{username}")

    def sign_out(self) -> None:
        """Sign out with the header button."""
        self.page.click("form.signout button")
        self.page.wait_for_load_state()


@pytest.fixture
def visitor(
    browser: Any, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Visitor]:
    """A fresh browser context (no cookies) with a phone-sized viewport."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    context.set_default_timeout(30_000)  # the test machine is shared and often loaded
    page = context.new_page()
    visitor = Visitor(page, live_server.url, request.node.name)
    yield visitor
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        visitor.shot("FAILED")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so the visitor can screenshot a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


ShotFn = Callable[[str], Path]


# The server's database fixtures: every test taking `session` runs on SQLite and PostgreSQL.
from tests.pa_server.server_fixtures import (  # noqa: E402
    db_url,
    engine,
    pg_database,
    session,
    sessions,
    sqlite_template,
)

__all__ = ["db_url", "engine", "pg_database", "session", "sessions", "sqlite_template"]
