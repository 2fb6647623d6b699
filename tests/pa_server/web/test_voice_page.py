"""The compose page's voice choices and the listening aid: what is chosen is what is rendered."""

from __future__ import annotations

import re

from tests.pa_server.district import District


def test_compose_with_voice_choices_and_a_reading_of_one_span(district: District) -> None:
    d = district
    page = d.page_as("vanhanh")
    text = "Giá lúa 8.000 đồng/kg, 3/4 số hộ đã bán."
    form = {
        "title": "Giá lúa",
        "text": text,
        "level": "normal",
        "voice": "nam",
        "speed": "0.9",
        "repeat": "3",
        "comma_pause_ms": "400",
        "sentence_pause_ms": "700",
        "outro": "1",  # the intro box left unticked
    }
    shown = page.post("/thong-bao/moi", action="spoken", **form)
    assert shown.status_code == 200
    assert "ba phần tư" in shown.text and "<mark>3/4</mark>" in shown.text
    saved = page.post("/thong-bao/moi", action="save", **form)
    assert saved.status_code == 303, saved.text
    ann_id = saved.headers["location"].split("/")[-1].split("?")[0]
    request = d.renderer.requests[-1]
    o = request.options
    assert (o.region, o.speed, o.repeat, o.comma_pause_ms, o.sentence_pause_ms) == (
        "nam",
        0.9,
        3,
        400,
        700,
    )
    assert not o.says_intro and o.outro
    # The listening aid: say "3/4" otherwise; stored, rendered, back to approval.
    r = page.post(f"/thong-bao/{ann_id}/cach-doc", written="3/4", spoken="ba phần tư tổng số")
    assert r.status_code == 303, r.text
    detail = page.client.get(f"/thong-bao/{ann_id}").text
    assert "ba phần tư tổng số" in detail and "đọc theo người soạn" in detail
    assert page.post(f"/thong-bao/{ann_id}/nghe-thu").status_code == 303
    again = d.renderer.requests[-1]
    assert again.options == o  # the stored choices, not the defaults
    assert [x.spoken for x in again.overrides] == ["ba phần tư tổng số"]
    missing = page.post(f"/thong-bao/{ann_id}/cach-doc", written="9/10", spoken="chín phần mười")
    assert missing.status_code == 422 and "không có chữ này" in missing.text


def test_the_overview_warns_when_a_zones_plan_is_cut(district: District) -> None:
    from pa_server.db.models import PublishedTimeline

    d = district
    page = d.page_as("quantri")
    assert 'data-testid="plan-cuts"' not in page.client.get("/").text
    with d.client.app.state.sessions() as db:  # type: ignore[attr-defined]
        db.add(
            PublishedTimeline(
                target="zone:vinh-tuong/ngu-kien",
                version=1,
                content_hash="h",
                published_at=d.clock.now,
                items_cut=37,
            )
        )
        db.commit()
    html = page.client.get("/").text
    assert 'data-testid="plan-cuts"' in html
    assert "Xã Ngũ Kiên" in html and "bớt 37 buổi phát" in html


def test_the_emergency_page_is_one_tap_from_the_overview_for_admins_only(
    district: District,
) -> None:
    admin = district.page_as("quantri").client.get("/").text
    operator = district.page_as("vanhanh").client.get("/").text
    assert 'href="/khan-cap"' in admin
    assert 'href="/khan-cap"' not in operator


def test_untouched_voice_choices_are_the_defaults_of_the_api_and_cli(district: District) -> None:
    page = district.page_as("vanhanh")
    html = page.client.get("/thong-bao/moi").text
    for name, value in (
        ("voice", "bac"),
        ("speed", "1.0"),
        ("repeat", "2"),
        ("comma_pause_ms", "200"),
        ("sentence_pause_ms", "350"),
    ):
        selected = re.search(rf'<select id="f-{name}".*?</select>', html, re.S)
        assert selected is not None, name
        assert f'<option value="{value}" selected>' in selected.group(0), name
