"""Every page and error page, as each role, shows only Vietnamese meant for people.

The demo district (names, loudspeakers, the Bluezone campaign) plus what the pages must say
well: a draft, a rejected announcement, a broadcast with finished, failed and silent
loudspeakers, devices online, offline and never seen, one reporting an English error.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.config import Settings
from tests.pa_server.web.support import COMMUNE, World, seed_world
from tests.pa_server.web.support import sign_in_demo as _sign_in
from tests.pa_server.web.visible_text import Checked, problems, visible_text

ROLES = ("quantri", "duyet", "vanhanh")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo district with the extra states above, on SQLite."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("vis") / "data", tts_engine="espeak")
    app = create_app(settings, background=False, demo=True)

    @app.get("/thu-loi-may-chu")
    def boom() -> None:
        raise RuntimeError("a bug")  # what a person sees is the 500 page, not this

    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield seed_world(client)


def _pages(w: World) -> list[str]:
    return [
        "/",
        "/thong-bao",
        "/thong-bao?status=archived",
        "/thong-bao?trang=99",
        "/thong-bao/moi",
        "/thong-bao/moi?script=bluezone-cai-dat",
        f"/thong-bao/{w.draft}",
        f"/thong-bao/{w.rejected}",
        f"/thong-bao/{w.approved}",
        f"/thong-bao/{w.approved}/phat-ngay",
        f"/thong-bao/{w.approved}/sua",
        f"/thong-bao/{w.draft}/sua?tb=redraft",
        f"/thong-bao/{w.approved}?tb=edited",
        f"/thong-bao/{w.approved}?tb=archived",
        "/lich-phat?tb=deleted",
        "/lich-phat",
        "/lich-phat/moi",
        f"/lich-phat/{w.schedule}",
        f"/lich-phat/{w.schedule}/sua",
        f"/lich-phat/{w.schedule}/xoa",
        f"/lich-phat/{w.schedule}?tb=custom",
        f"/lich-phat/{w.schedule}?loi=schedule_in_past",
        "/lich-phat/khong-co/sua",
        f"/phat/{w.broadcast}",
        "/truc-tiep",
        f"/truc-tiep/{w.live_mic}",
        f"/truc-tiep/{w.live_mic}/micro",
        f"/truc-tiep/{w.live_failed}",
        f"/phat/live-{w.live_failed}",
        "/truc-tiep/khong-co",
        f"/truc-tiep?chuong-trinh={w.relay_program}",
        f"/thong-bao/{w.relay_program}",
        f"/phat/{w.broadcast}/bang-chung",
        "/phat",
        "/phat?q=Tân Tiến",
        "/phat?q=không có gì",
        "/chuong-trinh",
        f"/chuong-trinh?khu-vuc={COMMUNE}",
        "/chuong-trinh?khu-vuc=khong-co",
        "/thiet-bi/loa-tan-tien-thon-1/chuong-trinh",
        "/thiet-bi/khong-co/chuong-trinh",
        "/lich-thang",
        f"/lich-thang?thang=2027-01&khu-vuc={COMMUNE}",
        "/lich-thang?thang=sai&ngay=sai",
        "/khan-cap",
        "/thong-bao?q=Họp thôn",
        "/lich-phat?q=Tân Tiến",
        "/thiet-bi?q=Tân Tiến&trang=2",
        "/nhat-ky?q=Trưởng phòng",
        "/thiet-bi",
        "/thiet-bi?zone=Tân Tiến",
        f"/thiet-bi?zone={COMMUNE}",
        "/thiet-bi?zone=*",
        "/thiet-bi/moi",
        "/thiet-bi/loa-tan-tien-thon-1",
        "/thiet-bi/loa-tan-tien-thon-2",
        "/thiet-bi/loa-vinh-thinh-thon-dong",
        "/thiet-bi/loa-vinh-thinh-thon-tay",
        "/thiet-bi/khong-co",
        "/khu-vuc",
        "/bao-cao",
        "/bao-cao?zone=Tân Tiến&from=31/02/2026",
        "/nhat-ky",
        "/nhat-ky?entity=announcements",
        "/nguoi-dung",
        "/khong-co-trang-nay",
        "/thong-bao/khong-co",
        "/lich-phat/khong-co",
        "/phat/khong-co",
        "/thong-bao/khong-co/phat-ngay",
        "/nguoi-dung/abc",
        "/cong-khai/vinh-tuong/tan-tien",
        "/canh-bao",
        "/canh-bao/nguon",
        "/canh-bao/khong-co",
        "/canh-bao/ban-tin/khong-co",
        "/cong-khai/khong-co",
        "/cong-khai/khong-co/rss.xml",
        "/thu-loi-may-chu",
    ]


@pytest.mark.parametrize("username", ROLES)
def test_every_page_speaks_vietnamese_only(world: World, username: str) -> None:
    client = world.client
    csrf = _sign_in(client, username)
    checked = Checked()
    for path in _pages(world):
        r = client.get(path)
        assert r.status_code < 500 or path == "/thu-loi-may-chu", (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), path
        checked.check(f"{username} GET {path} ({r.status_code})", r.text)
    # Forms sent back with errors say them in Vietnamese too.
    posts = {
        "/lich-phat/moi": {
            "announcement_id": world.approved,
            "times": "25:99",
            "date_from": "31/02/2026",
            "zone": "vinh-tuong/khong-co",
            "action": "preview",
        },
        # A preview with warnings (quiet hours, the demo campaign's 17:00), and a refusal.
        "/lich-phat/moi?canh-bao": {
            "announcement_id": world.approved,
            "times": "22:00, 17:00, 06:30",
            "date_from": "01/12/2026",
            "date_to": "31/12/2026",
            "zone": COMMUNE,
            "action": "preview",
        },
        "/lich-phat/moi?tu-choi": {
            "announcement_id": world.approved,
            "times": "23:00",
            "date_from": "01/12/2026",
            "zone": COMMUNE,
            "action": "preview",
        },
        "/lich-phat/moi?lich-am": {
            "announcement_id": world.approved,
            "times": "07:00",
            "date_from": "01/12/2026",
            "zone": COMMUNE,
            "lunar_days": "mùng 1, rằm, 40",
            "lunar_months": "Chạp",
            "holidays": "skip",
            "action": "preview",
        },
        # Several times of day on lunar days: the preview's badges and warnings together.
        "/lich-phat/moi?lich-am-nhieu-gio": {
            "announcement_id": world.approved,
            "times": "06:30, 17:00",
            "date_from": "01/12/2026",
            "zone": COMMUNE,
            "lunar_days": "mùng 1, rằm",
            "holidays": "skip",
            "action": "preview",
        },
        "/thong-bao/moi": {"title": "", "text": "", "action": "save"},
        "/thong-bao/moi?khong-doc-duoc": {"title": "Thử", "text": "!!! ??? 😀", "action": "save"},
        f"/thong-bao/{world.draft}/sua": {"title": "", "text": "?!"},
        f"/thong-bao/{world.approved}/phat-ngay": {"level": "emergency"},
        "/truc-tiep": {"source": "relay", "title": "", "url": "file:///x", "minutes": "0"},
        "/truc-tiep/chuong-trinh": {"p_title": "VOV", "p_url": "ftp://x", "p_minutes": "30"},
        "/thiet-bi/moi": {"name": "", "zone": "vinh-tuong/khong-co"},
        "/khu-vuc": {"parent": "vinh-tuong", "name": "!!!"},
        "/khu-vuc/xoa": {"zone": COMMUNE},
        "/khu-vuc/sua": {"zone": COMMUNE, "name": "Xã Tân Tiến", "quiet_start": "25h"},
        "/thiet-bi/loa-tan-tien-thon-1/go": {"confirm": "no"},
        "/thiet-bi/loa-tan-tien-thon-1/sua": {"name": ""},
    }
    for path, data in posts.items():
        r = client.post(path, data={"csrf_token": csrf, **data})
        checked.check(f"{username} POST {path} ({r.status_code})", r.text)
    # The config page a new loudspeaker answers with (each role adds its own).
    r = client.post(
        "/thiet-bi/moi",
        data={"csrf_token": csrf, "name": f"Loa thử của {username}", "zone": COMMUNE},
    )
    checked.check(f"{username} POST /thiet-bi/moi ({r.status_code})", r.text)
    added = re.search(r'data-testid="device-id">([a-z0-9-]+)<', r.text)
    if added:  # retired again, so the other tests count the demo's loudspeakers only
        gone = client.post(
            f"/thiet-bi/{added.group(1)}/go", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert gone.status_code == 303
    assert not checked.found, "\n" + checked.report()


def test_signed_out_pages(world: World) -> None:
    client = world.client
    client.cookies.clear()
    checked = Checked()
    for path in ("/dang-nhap", "/cong-khai/vinh-tuong/tan-tien", "/khong-co", "/thu-loi-may-chu"):
        r = client.get(path)
        checked.check(f"GET {path} ({r.status_code})", r.text)
    assert not checked.found, "\n" + checked.report()


def test_errors_are_pages_for_people_and_json_for_machines(world: World) -> None:
    client = world.client
    _sign_in(client, "vanhanh")
    page = client.get("/khong-co-trang-nay")
    assert page.status_code == 404 and "Không tìm thấy" in page.text
    missing = client.get("/thong-bao/khong-co")
    assert missing.status_code == 404 and "Không tìm thấy" in missing.text
    assert "Không được phép" not in missing.text  # a missing item is not a refusal
    boom = client.get("/thu-loi-may-chu")
    assert boom.status_code == 500 and "Có lỗi xảy ra" in boom.text and "bug" not in boom.text
    api = client.get("/api/v1/khong-co")
    assert api.status_code == 404 and api.json()["detail"]["code"] == "http_404"
    api = client.get("/api/v1/announcements/khong-co")
    assert api.headers["content-type"].startswith("application/json")


def test_statuses_agree_between_pages(world: World) -> None:
    client = world.client
    _sign_in(client, "quantri")
    listing = visible_text(client.get("/thong-bao?status=archived").text)
    detail = visible_text(client.get(f"/thong-bao/{world.rejected}").text)
    assert "Thông báo viết sai\nBị từ chối" in listing and "Bị từ chối" in detail
    broadcast = visible_text(client.get(f"/phat/{world.broadcast}").text)
    # Thôn 1 finished (it also "started"): finished, not playing; Thôn 2 failed; Thôn 3 silent.
    assert "Đã phát xong 1/3 loa · lỗi 1 · chưa báo 1" in broadcast
    assert "đang phát" not in broadcast.lower().split("loa ·")[0]
    assert "Loa không phát được âm thanh" in broadcast
    devices = visible_text(client.get("/thiet-bi").text)
    overview = visible_text(client.get("/").text)
    for text in (devices, overview):
        assert "2 trực tuyến" in text and "1 mất kết nối" in text
        assert "6 chưa kết nối lần nào" in text
    assert "Phần mềm trên loa khác phiên bản" in devices


def test_schedules_and_audit_in_sentences(world: World) -> None:
    client = world.client
    _sign_in(client, "duyet")
    schedules_page = visible_text(client.get("/lich-phat").text)
    assert "Hằng ngày lúc 06:00 và 17:00" in schedules_page
    log = visible_text(client.get("/nhat-ky").text)
    assert (
        "Trưởng phòng Văn hóa đã từ chối thông báo «Thông báo viết sai» (lý do: Sai ngày họp)"
        in log
    )
    assert "Cán bộ đài xã Tân Tiến đã soạn thông báo «Họp thôn tối nay»" in log
    assert "Trưởng phòng Văn hóa đã đăng nhập lúc" in log


def test_operator_sees_only_what_they_may_do(world: World) -> None:
    client = world.client
    _sign_in(client, "vanhanh")
    home = client.get("/").text
    assert 'href="/nguoi-dung"' not in home
    devices = client.get("/thiet-bi").text
    # Buttons only on the loudspeakers of their own commune.
    assert 'action="/thiet-bi/loa-tan-tien-thon-1/ping"' in devices
    assert 'action="/thiet-bi/loa-vinh-thinh-thon-dong/ping"' not in devices
    broadcast = client.get(f"/phat/{world.broadcast}").text
    assert "Gửi thông báo hủy" not in broadcast  # an emergency cancel is the admin's
    _sign_in(client, "quantri")
    assert 'href="/nguoi-dung"' in client.get("/").text
    assert "Gửi thông báo hủy" in client.get(f"/phat/{world.broadcast}").text


def test_report_csv_opens_in_excel(world: World) -> None:
    client = world.client
    _sign_in(client, "quantri")
    r = client.get("/bao-cao", params={"zone": COMMUNE, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the UTF-8 byte-order mark Excel needs
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Khu vực", "Loa", "Mã loa"]
    assert rows[1][:3] == ["Thôn 1", "Loa Thôn 1, xã Tân Tiến", "loa-tan-tien-thon-1"]
    # The API's CSV stays the machine format.
    api = client.get("/api/v1/reports/playback", params={"format": "csv"})
    assert api.text.startswith("zone,device_id")


@pytest.mark.parametrize(
    ("html", "kind"),
    [
        ("<p>invalid zone path 'Tân Tiến': [a-z0-9-]+ per level</p>", "English word"),
        ("<p>text has nothing speakable</p>", "English word"),
        ("<p>Quy tắc: FREQ=DAILY;BYHOUR=6</p>", "recurrence rule"),
        ("<p>Khu vực zone:vinh-tuong/tan-tien</p>", "target code"),
        ("<p>Khu vực vinh-tuong/tan-tien</p>", "zone path"),
        ("<p>Khu vực tan-tien</p>", "slug"),
        ('<pre>{"title": "L\\u0169 qu\\u00e9t"}</pre>', "\\u escape"),
        ('<pre>{"title": "Lũ"}</pre>', "JSON"),
        ("<p>create · schedule_targets</p>", "table name"),
        ('<input placeholder="Search">', "English word"),
        ("<title>Not Found</title>", "English word"),
        # Foreign words are let through only where marked as a quotation in that language.
        ('<p lang="vi">Flash flood for the lowlands</p>', "English word"),
    ],
)
def test_the_detector_catches_what_users_reported(html: str, kind: str) -> None:
    assert any(p.startswith(kind) for p in problems(html)), problems(html)


@pytest.mark.parametrize(
    "html",
    [
        "<p>Cài đặt Bluezone qua MQTT, nhận tin qua RSS</p>",
        "<p>Đã phát xong 2/5 loa · đang phát 1</p>",
        '<p>Mã loa: <code translate="no">loa-tan-tien-thon-1</code></p>',
        '<script>const x = {"a": null};</script><p>Thông báo</p>',
        '<details><code data-technical translate="no">unsupported protocol</code></details>',
        "<p>Thứ Hai, Tư, Sáu lúc 17:15, từ 02/12 đến 31/12</p>",
        # An alert's original words, quoted in its language for the person who translates it.
        '<div class="spoken"><p lang="en-US">Flash flood for the lowlands</p></div>',
        # A password shown once is random: "y_a-…" once read as a table name (a flaky page test).
        '<dd><code translate="no" data-secret>y_a-ljzrIpRSqQC8RhnS4pmxCZJ2R5KL</code></dd>',
    ],
)
def test_the_detector_lets_vietnamese_through(html: str) -> None:
    assert problems(html) == []


def test_screenshots_dir_is_not_committed() -> None:
    ignored = (Path(__file__).resolve().parents[3] / ".gitignore").read_text()
    assert "test-artifacts" in ignored
