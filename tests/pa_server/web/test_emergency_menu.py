"""The menu's "Khẩn cấp" entry: shown to whoever the service lets send an emergency (an
admin), hidden from everyone else, marked as the current page on /khan-cap, and on screen
in full at desktop and phone width (one menu serves both; it wraps on a phone)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role, require_level
from pa_server.config import Settings
from pa_server.web.can import can
from tests.pa_server.web.browser import admin_visitor as admin_visitor  # fixture
from tests.pa_server.web.browser import assert_fits
from tests.pa_server.web.browser import demo_server as demo_server  # the demo district
from tests.pa_server.web.conftest import Visitor
from tests.pa_server.web.support import sign_in_demo as sign_in


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("menu") / "data")
    app = create_app(settings, background=False, demo=True)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _menu(html: str) -> str:
    found = re.search(r'<nav aria-label="Menu chính">(.*?)</nav>', html, re.S)
    assert found, "no main menu"
    return found.group(1)


@pytest.mark.parametrize(
    ("username", "shown"), [("quantri", True), ("duyet", False), ("vanhanh", False)]
)
def test_khan_cap_in_the_menu_only_for_who_may_send_one(
    client: TestClient, username: str, shown: bool
) -> None:
    sign_in(client, username)
    menu = _menu(client.get("/").text)
    assert ('href="/khan-cap"' in menu) is shown
    current = re.findall(
        r'<a href="([^"]+)" aria-current="page">', _menu(client.get("/khan-cap").text)
    )
    assert current == (["/khan-cap"] if shown else [])


@pytest.mark.parametrize("role", list(Role))
def test_the_menu_asks_the_services_rule(role: Role) -> None:
    """`can("emergency")` is `require_level`'s answer, so menu and service cannot disagree."""
    actor = Actor(id=1, username="a", role=role)
    try:
        require_level(actor, "emergency", confirmed=True)
        allowed = True
    except Forbidden:
        allowed = False
    assert can(actor, "emergency") is allowed
    assert can(actor, "nav", "/khan-cap") is allowed


@pytest.mark.browser
def test_khan_cap_menu_item_in_chromium(admin_visitor: Visitor) -> None:
    page = admin_visitor.page
    item = page.locator("header nav a", has_text="Khẩn cấp")
    assert item.count() == 1 and item.get_attribute("aria-current") is None
    item.click()
    page.wait_for_url(re.compile(r"/khan-cap$"))
    admin_visitor.shot("khan-cap")
    assert_fits(admin_visitor)
    item = page.locator("header nav a[aria-current=page]")
    assert item.inner_text() == "Khẩn cấp"
    box, screen = item.bounding_box(), page.viewport_size
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= screen["width"]
    assert box["y"] + box["height"] <= screen["height"]
