"""How an announcement is read and voiced: spans, an operator's readings, the voice options."""

from __future__ import annotations

from tests.pa_server.api.support import V1, approved
from tests.pa_server.server_fixtures import Api


def test_reading_shows_every_changed_span(api: Api) -> None:
    ann = api.ok(
        "POST", f"{V1}/announcements", 201, json={"title": "Giá", "text": "3/4 số hộ đã cài."}
    )
    reading = api.ok("GET", f"{V1}/announcements/{ann['id']}/reading")
    assert reading["spoken"].startswith("ba phần tư số hộ")
    assert {k: reading["spans"][0][k] for k in ("start", "end", "written", "spoken")} == {
        "start": 0,
        "end": 3,
        "written": "3/4",
        "spoken": "ba phần tư",
    }


def test_an_operators_reading_is_rendered_and_returns_the_text_to_approval(api: Api) -> None:
    ann = approved(api, "Gọi 1022 để được hỗ trợ.")
    url = f"{V1}/announcements/{ann['id']}"
    reading = [{"start": 4, "end": 8, "written": "1022", "spoken": "một không hai hai"}]
    edited = api.ok("PUT", f"{url}/readings", json=reading)
    assert edited["status"] == "draft" and edited["rendition"] is None
    assert edited["spoken_overrides"] == reading
    spans = api.ok("GET", f"{url}/reading")["spans"]
    assert [s["spoken"] for s in spans if s["overridden"]] == ["một không hai hai"]
    api.ok("POST", f"{url}/render")
    assert api.renderer.requests[-1].overrides[0].spoken == "một không hai hai"
    # A reading that is not in the text, or that has digits, is refused; nothing changes.
    api.refused("PUT", f"{url}/readings", "reading_not_in_text", json=[{**reading[0], "start": 5}])
    bad = [{**reading[0], "spoken": "1022"}]
    api.refused("PUT", f"{url}/readings", "bad_reading", json=bad)
    assert api.ok("GET", url)["spoken_overrides"] == reading


def test_voice_options_are_kept_and_used_again(api: Api) -> None:
    ann = api.ok("POST", f"{V1}/announcements", 201, json={"title": "t", "text": "Xin chào."})
    url = f"{V1}/announcements/{ann['id']}"
    options = {"voice": "nam", "speed": 0.9, "repeat": 3, "comma_pause_ms": 400, "intro": False}
    api.ok("POST", f"{url}/render", json=options)
    first = api.renderer.requests[-1].options
    assert (first.region, first.speed, first.repeat, first.comma_pause_ms) == ("nam", 0.9, 3, 400)
    assert not first.says_intro
    api.ok("POST", f"{url}/render")  # no options: the stored ones
    assert api.renderer.requests[-1].options == first
    stored = api.ok("GET", url)["render_options"]
    assert stored["voice"] == "nam" and stored["repeat"] == 3
    api.refused("POST", f"{url}/render", "invalid_input", json={"voice": "hue"})
    api.ok("POST", f"{url}/approve")  # by the fixture's second person
