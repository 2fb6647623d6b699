"""Announcement pages over HTTP: edit (an approved text goes back to approval), re-draft a
rejected one, archive — buttons only for who may use them; nothing speakable is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.config import Settings
from pa_server.services import announcements, schedules
from tests.pa_server.web.support import World, seed_world
from tests.pa_server.web.support import sign_in_demo as sign_in
from tests.pa_server.web.visible_text import visible_text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("ap") / "data", tts_engine="espeak")
    app = create_app(settings, background=False, demo=True)
    with TestClient(app, follow_redirects=False) as client:
        yield seed_world(client)


def _status(client: TestClient, ann_id: str) -> str:
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        return announcements.get_announcement(db, ann_id).status


def _compose(client: TestClient, token: str, text: str) -> TestClient | object:
    return client.post(
        "/thong-bao/moi",
        data={
            "csrf_token": token,
            "title": "Thử",
            "text": text,
            "level": "normal",
            "action": "save",
        },
    )


def test_nothing_speakable_is_refused_in_vietnamese(world: World) -> None:
    client = world.client
    token = sign_in(client, "vanhanh")
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        _, before = announcements.list_announcements(db, status=None, limit=1, offset=0)
    r = _compose(client, token, "!!! ??? 😀")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "không có chữ nào để đọc" in visible_text(r.text)  # type: ignore[attr-defined]
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        _, after = announcements.list_announcements(db, status=None, limit=1, offset=0)
    assert after == before
    api = client.post(
        "/api/v1/announcements",
        json={"title": "Thử", "text": "!!! ??? 😀"},
        headers={"X-CSRF-Token": token},
    )
    assert api.status_code == 422 and api.json()["detail"]["code"] == "bad_text"


def test_editing_an_approved_text_sends_it_back_to_approval(world: World) -> None:
    client = world.client
    token = sign_in(client, "vanhanh")
    r = _compose(client, token, "Mời bà con đi họp lúc 8 giờ.")
    ann_id = r.headers["location"].split("/")[-1].split("?")[0]  # type: ignore[attr-defined]
    sign_in(client, "duyet")
    token = sign_in(client, "duyet")
    client.post(f"/thong-bao/{ann_id}/duyet", data={"csrf_token": token})
    assert _status(client, ann_id) == "approved"
    token = sign_in(client, "vanhanh")
    page = client.get(f"/thong-bao/{ann_id}").text
    assert f"/thong-bao/{ann_id}/sua" in page and "Lưu trữ</button>" in page
    form = client.get(f"/thong-bao/{ann_id}/sua").text
    assert "phải được duyệt lại" in form
    r = client.post(
        f"/thong-bao/{ann_id}/sua",
        data={"csrf_token": token, "title": "Thử", "text": "Mời họp lúc 9 giờ.", "level": "normal"},
    )
    assert r.status_code == 303, r.text
    assert _status(client, ann_id) == "draft"
    shown = visible_text(client.get(r.headers["location"]).text)
    assert "duyệt lại" in shown and "Chờ duyệt" in shown
    r = client.post(
        f"/thong-bao/{ann_id}/sua",
        data={"csrf_token": token, "title": "Thử", "text": "?!", "level": "normal"},
    )
    assert r.status_code == 422 and "không có chữ nào để đọc" in visible_text(r.text)


def test_redraft_a_rejected_one_then_archive_statuses_agree(world: World) -> None:
    client = world.client
    token = sign_in(client, "vanhanh")
    detail = visible_text(client.get(f"/thong-bao/{world.rejected}").text)
    listing = visible_text(client.get("/thong-bao?status=archived").text)
    assert "Bị từ chối" in detail and "Thông báo viết sai\nBị từ chối" in listing
    r = client.post(f"/thong-bao/{world.rejected}/soan-lai", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("/sua?tb=redraft")
    assert _status(client, world.rejected) == "draft"
    assert "Lần trước bị từ chối" in visible_text(client.get(f"/thong-bao/{world.rejected}").text)
    r = client.post(f"/thong-bao/{world.rejected}/luu-tru", data={"csrf_token": token})
    assert r.status_code == 303 and _status(client, world.rejected) == "archived"
    detail = visible_text(client.get(f"/thong-bao/{world.rejected}").text)
    listing = visible_text(client.get("/thong-bao?status=archived").text)
    assert "Thông báo viết sai\nLưu trữ" in listing and "Lưu trữ" in detail
    assert "Bị từ chối bởi" not in detail


def test_no_buttons_for_who_may_not_use_them(world: World) -> None:
    client = world.client
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        rows, _ = schedules.list_schedules(db, announcement_id=None, limit=100, offset=0)
        other = next(
            s.announcement_id
            for s in rows
            if [t.zone_path for t in s.targets] == ["vinh-tuong/vinh-thinh"]
        )
    token = sign_in(client, "vanhanh")  # Tân Tiến's operator, on Vĩnh Thịnh's campaign
    page = client.get(f"/thong-bao/{other}").text
    assert f"/thong-bao/{other}/sua" not in page and "luu-tru" not in page
    assert client.get(f"/thong-bao/{other}/sua").status_code == 403
    r = client.post(f"/thong-bao/{other}/luu-tru", data={"csrf_token": token})
    assert r.status_code == 403 and _status(client, other) == "approved"
