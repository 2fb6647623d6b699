"""A broadcast has one status, said one way: its page shows the live counts' state only
(not also the stored occurrence status in other words), the list of broadcasts says the same,
and a broadcast the planner dropped says "Đã hủy" rather than waiting forever. Checked in
Chromium at 1280 and 390 wide, with screenshots in test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from pa_server.db.models import Occurrence
from pa_server.web import labels
from tests.pa_server.web.browser import admin_visitor as admin_visitor  # fixture
from tests.pa_server.web.browser import assert_fits
from tests.pa_server.web.browser import demo_server as demo_server  # the demo district
from tests.pa_server.web.conftest import Visitor
from tests.pa_server.web.support import World
from tests.pa_server.web.support import sign_in_demo as sign_in
from tests.pa_server.web.test_visible_text import world  # noqa: F401  (fixture)
from tests.pa_server.web.visible_text import visible_text

#: Every wording a broadcast's status could take, either table.
STATUS_WORDS = {*labels.all_labels()["broadcast_state"].values()} | {
    *labels.all_labels()["occurrence_status"].values()
}


def _said(html: str) -> list[str]:
    """The badges in `html` as a person reads them."""
    return [
        visible_text(b) for b in re.findall(r'<span class="badge[^"]*"[^>]*>(.*?)</span>', html)
    ]


def _badges(html: str) -> list[str]:
    """The badges of a broadcast's page above its list of loudspeakers."""
    return _said(html.split('data-testid="devices"')[0].split('<main id="main">')[1])


def test_broadcast_page_says_its_status_once(world: World) -> None:  # noqa: F811
    client = world.client
    sign_in(client, "quantri")
    url = f"/phat/{world.broadcast}"
    badges = _badges(client.get(url).text)
    said = [b for b in badges if b in STATUS_WORDS]
    live = client.get(f"{url}/so-loa").json()
    assert said == [live["state_text"]], badges
    assert "Khẩn cấp" in badges  # the level is not a status: it stays
    # The list of broadcasts says the same word for it.
    row = client.get("/phat").text.split(f'href="/phat/{world.broadcast}"')[0].rsplit("<li", 1)[1]
    assert [b for b in _said(row) if b in STATUS_WORDS] == [live["state_text"]]


def test_a_dropped_broadcast_says_so(world: World) -> None:  # noqa: F811
    client = world.client
    sign_in(client, "quantri")
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        occ = db.get_one(Occurrence, world.broadcast)
        status = occ.status
        occ.status = "cancelled"
        db.commit()
    try:
        said = [
            b for b in _badges(client.get(f"/phat/{world.broadcast}").text) if b in STATUS_WORDS
        ]
        assert said == [labels.label("broadcast_state", "cancelled")] == ["Đã hủy"]
    finally:
        with client.app.state.sessions() as db:  # type: ignore[attr-defined]
            db.get_one(Occurrence, world.broadcast).status = status
            db.commit()


@pytest.mark.browser
def test_broadcast_status_in_chromium(
    admin_visitor: Visitor,
    demo_server: tuple[str, World],
) -> None:
    visitor = admin_visitor
    visitor.go(f"/phat/{demo_server[1].broadcast}", "broadcast")
    assert_fits(visitor)
    page = visitor.page
    badges = page.locator("main .badge").evaluate_all(
        "els => els.filter(e => !e.closest('[data-testid=devices]')).map(e => e.innerText)"
    )
    said = [b for b in badges if b in STATUS_WORDS]
    assert said == [page.locator("[data-testid=status]").inner_text()], badges
    assert page.locator("[data-testid=status]").is_visible()
