"""Hostile form and query input on the pages: numbers that are digits to Python but not to
`int()` ("²", "¹⁰"), huge and negative numbers, NUL and bidi/zero-width characters. A page
answers with its Vietnamese error, never a 500, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.config import Settings
from pa_server.db.models import LiveSessionRow
from tests.pa_server.web.support import COMMUNE, World, seed_world, sign_in_demo

#: `str.isdigit()` is True for each, `int()` refuses the first three.
DIGIT_LOOKALIKES = ["²", "¹⁰", "③", "99999999999999999999999", "-5", "1.5", "30\x00"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile") / "data", tts_engine="espeak")
    app = create_app(settings, background=False, demo=True)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield seed_world(client)


def _live_count(world: World) -> int:
    with world.client.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.query(LiveSessionRow).count()


def _start_mic(world: World, csrf: str, *, title: str = "Họp dân", minutes: str = "5") -> int:
    """Post the live page's microphone form; the response status."""
    r = world.client.post(
        "/truc-tiep",
        data={
            "csrf_token": csrf,
            "source": "mic",
            "title": title,
            "minutes": minutes,
            "zone": COMMUNE,
            "level": "normal",
        },
    )
    return r.status_code


@pytest.mark.parametrize("minutes", DIGIT_LOOKALIKES)
def test_live_forms_refuse_odd_minutes_with_a_page(world: World, minutes: str) -> None:
    csrf = sign_in_demo(world.client, "vanhanh")
    before = _live_count(world)
    status = _start_mic(world, csrf, minutes=minutes)
    assert status == 422, (minutes, status)
    relay = world.client.post(
        "/truc-tiep/chuong-trinh",
        data={
            "csrf_token": csrf,
            "p_title": "Tiếp sóng",
            "p_url": "https://radio.example.vn/vov1.mp3",
            "p_minutes": minutes,
        },
    )
    assert relay.status_code == 422, (minutes, relay.status_code)
    assert _live_count(world) == before


@pytest.mark.parametrize("page", ["²", "¹⁰", "-1", "1e9", "\u202e2"])
def test_a_page_number_that_is_not_a_number_is_page_one(world: World, page: str) -> None:
    sign_in_demo(world.client, "vanhanh")
    for path in ("/thong-bao", "/lich-phat", "/thiet-bi", "/nhat-ky"):
        r = world.client.get(path, params={"trang": page})
        # A direction character in the query is refused with the request line (a 4xx page).
        expected = (400, 404) if "\u202e" in page else (200,)
        assert r.status_code in expected, (path, page, r.status_code)


@pytest.mark.parametrize("title", ["Tiếp\x00sóng", "x" * 301])
def test_live_titles_with_nul_or_too_long_are_refused(world: World, title: str) -> None:
    csrf = sign_in_demo(world.client, "vanhanh")
    before = _live_count(world)
    assert _start_mic(world, csrf, title=title) == 422 and _live_count(world) == before


def test_bidi_and_zero_width_characters_cannot_disguise_a_title(world: World) -> None:
    """U+202E turns "Họp dân" around on screen; U+200B hides a word break. A title is what
    people read on the public page: refused like a control character."""
    csrf = sign_in_demo(world.client, "vanhanh")
    before = _live_count(world)
    for title in ("\u202enád póH", "Họp\u200bdân", "\u2066Họp\u2069"):
        status = _start_mic(world, csrf, title=title)
        assert status == 422, (title, status)
    assert _live_count(world) == before
