"""Helpers shared by the Chromium walks: the demo server, the two screen sizes, a sized tab,
the "fits the screen" check, a download, and an announcement written and approved.

The harness itself (the browser, the plain live server, `Visitor`) is in `conftest.py`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.config import AgentConfig, load_config
from pa_server.app import create_app
from pa_server.auth.demo import DEMO_PASSWORD
from pa_server.config import Settings
from tests.pa_server.web.conftest import PASSWORD, Visitor, running, server_settings
from tests.pa_server.web.support import World, seed_world
from tests.pa_server.web.visible_text import problems

#: The two sizes every walk is checked at.
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@contextmanager
def serve_demo(
    tmp_path_factory: pytest.TempPathFactory, *, background: bool
) -> Iterator[tuple[str, World]]:
    """The demo district (with `support.seed_world`'s states), served on a free port.

    `background=True` also runs the broker and bus, so broadcasts can be sent.
    """
    settings = server_settings(tmp_path_factory, "demo")
    renders = _shared_renders(tmp_path_factory)
    if renders.is_dir():
        shutil.copytree(renders / "cache", settings.cache_dir)
        shutil.copytree(renders / "media", settings.media_dir)
    app = create_app(settings, background=background, demo=True)
    with running(app, settings.port, "demo server"):
        if not renders.is_dir():
            _publish_renders(settings, renders)
        # The extra states go in through the same app (its lifespan has run: sessions exist).
        yield f"http://127.0.0.1:{settings.port}", seed_world(TestClient(app))


def _shared_renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the demo's renders are kept for every demo server of this run (all workers).

    Each demo server renders the same campaigns at start-up (6-8 s of espeak-ng and mastering
    each, more under load); with these copied into its data dir they are render-cache hits,
    as on a real server that renders a text a second time.
    """
    base = tmp_path_factory.getbasetemp()
    return (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "demo-renders"


def _publish_renders(settings: Settings, renders: Path) -> None:
    # Copied aside, then renamed into place in one step: a worker copying it never sees half.
    # The cache before the media: a cache entry is written after its media, so every entry
    # copied has its media copied too.
    staging = renders.with_name(f"{renders.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(settings.cache_dir, staging / "cache")
    shutil.copytree(settings.media_dir, staging / "media")
    try:
        staging.rename(renders)
    except OSError:  # another worker published first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The demo district for looking at pages (no broker, bus or planner loop)."""
    with serve_demo(tmp_path_factory, background=False) as served:
        yield served


@contextmanager
def sized_visitor(
    browser: Any, base_url: str, size: str, prefix: str, request: pytest.FixtureRequest
) -> Iterator[Visitor]:
    """A fresh browser context (no cookies, downloads allowed) at one of `VIEWPORTS`.

    Screenshots are named `<prefix>-NN-<step>.png`; a failed test adds a `FAILED` one.
    """
    context = browser.new_context(viewport=VIEWPORTS[size], locale="vi-VN", accept_downloads=True)
    context.set_default_timeout(30_000)  # the test machine is shared and often loaded
    visitor = Visitor(context.new_page(), base_url, prefix)
    try:
        yield visitor
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            visitor.shot("FAILED")
        context.close()


@pytest.fixture(params=list(VIEWPORTS))
def admin_visitor(
    browser: Any, demo_server: tuple[str, World], request: pytest.FixtureRequest
) -> Iterator[Visitor]:
    """`quantri` (an admin) signed in on the demo district, once at each of `VIEWPORTS`;
    screenshots are named after the test. A module using it imports `demo_server` too."""
    base = demo_server[0]
    with sized_visitor(browser, base, request.param, request.node.name, request) as visitor:
        visitor.sign_in("quantri", DEMO_PASSWORD)
        yield visitor


def assert_fits(visitor: Visitor, *, text: bool = True) -> None:
    """The page does not scroll sideways and (with `text`) shows no English or raw codes."""
    width = visitor.page.evaluate("document.documentElement.scrollWidth")
    viewport = visitor.page.viewport_size["width"]
    assert width <= viewport, f"{visitor.page.url} scrolls sideways ({width} > {viewport})"
    if text:
        found = problems(visitor.page.content())
        assert not found, (visitor.page.url, found)


def download(visitor: Visitor, tmp_path: Path, label: str) -> Path:
    """Click the page's `[data-testid=download]` link and save the file under `tmp_path`."""
    with visitor.page.expect_download() as info:
        visitor.page.click("[data-testid=download]")
    got = info.value
    target = tmp_path / f"{label}-{got.suggested_filename}"
    got.save_as(str(target))
    return target


def approved_announcement(visitor: Visitor, title: str, text: str, password: str = PASSWORD) -> str:
    """`vanhanh` writes an announcement and `duyet` approves it, in the browser; its id.

    Leaves the tab signed out; screenshots each step.
    """
    page = visitor.page
    visitor.sign_in("vanhanh", password)
    visitor.go("/thong-bao/moi", "compose")
    page.fill("#f-title", title)
    page.fill("#f-text", text)
    visitor.shot("compose-filled")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/thong-bao/[0-9a-f-]{36}\?tb=saved"))
    visitor.shot("composed")
    assert "Chờ người duyệt" in page.locator("[role=status]").inner_text()
    ann_id = page.url.split("/thong-bao/")[1].split("?")[0]
    visitor.sign_out()
    visitor.sign_in("duyet", password)
    visitor.go(f"/thong-bao/{ann_id}", "to-approve")
    page.get_by_role("button", name="Duyệt thông báo").click()
    page.wait_for_url(re.compile(r"\?tb=approved"))
    visitor.shot("approved")
    assert "Đã duyệt" in page.locator("[role=status]").inner_text()
    visitor.sign_out()
    return str(ann_id)


def add_loudspeaker(
    visitor: Visitor, tmp_path: Path, name: str, *, zone: dict[str, str]
) -> tuple[str, AgentConfig]:
    """On the open "Thêm loa" form: add `name` in `zone` (`select_option` keywords), download
    its config and read it back with the agent's own loader; (its id, the config)."""
    page = visitor.page
    page.fill("#f-name", name)
    page.fill("#f-location", "Cột điện đầu chợ")
    page.select_option("#f-zone", **zone)
    page.click("form[action='/thiet-bi/moi'] button[type=submit]")
    page.wait_for_selector("[data-testid=config]")
    visitor.shot("config")
    assert_fits(visitor)
    device_id = str(page.locator("[data-testid=device-id]").inner_text())
    saved = download(visitor, tmp_path, "added")
    assert saved.name.endswith(f"pa-device-{device_id}.toml")
    config = load_config(saved, env={})
    assert config.device.id == device_id and config.mqtt.username == device_id
    assert config.mqtt.password == page.locator("[data-testid=password]").inner_text()
    return device_id, config
