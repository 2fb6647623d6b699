"""The programme, calendar, emergency counts, proof, searches and error pages, as pages."""

from __future__ import annotations

import csv
import io

from tests.pa_server.web.support import COMMUNE, World
from tests.pa_server.web.test_visible_text import _sign_in
from tests.pa_server.web.test_visible_text import world as world  # the same seeded district
from tests.pa_server.web.visible_text import visible_text


def test_unknown_addresses_keep_the_menu_and_the_api_gets_json(world: World) -> None:
    client = world.client
    _sign_in(client, "vanhanh")
    page = client.get("/khong-co-trang-nay")
    assert page.status_code == 404
    text = visible_text(page.text)
    assert "Không tìm thấy" in text
    assert "Tổng quan" in text and "Đăng xuất" in text  # the signed-in person's usual menu
    assert 'href="/nguoi-dung"' not in page.text  # and only what they may open
    for path in ("/api/v1/khong-co", "/api", "/api/khong-co"):
        api = client.get(path)
        assert api.status_code == 404, path
        assert api.headers["content-type"].startswith("application/json"), path
        assert api.json()["detail"]["code"] == "http_404"
    client.cookies.clear()
    anonymous = client.get("/khong-co-trang-nay")
    assert anonymous.status_code == 404 and "Đăng xuất" not in anonymous.text


def test_overview_says_what_waits_for_approval_to_approvers_only(world: World) -> None:
    client = world.client
    _sign_in(client, "duyet")
    home = client.get("/").text
    assert "1 thông báo chờ duyệt" in visible_text(home)  # the draft "Họp thôn tối nay"
    assert 'href="/thong-bao?status=draft"' in home
    assert "Sắp phát" in visible_text(home)
    _sign_in(client, "vanhanh")
    assert "chờ duyệt" not in visible_text(client.get("/").text)


def test_programme_of_a_zone_and_a_loudspeaker(world: World) -> None:
    client = world.client
    _sign_in(client, "vanhanh")
    # An operator of one commune lands on their own commune.
    own = visible_text(client.get("/chuong-trinh").text)
    assert "Xã Tân Tiến" in own and "Chiến dịch Bluezone — xã Tân Tiến" in own
    assert "xã Tứ Trưng" not in own.split("Sáu ngày tới")[1]
    device = client.get("/thiet-bi/loa-tan-tien-thon-1/chuong-trinh")
    assert device.status_code == 200 and "06:00–" in device.text
    assert client.get("/thiet-bi/khong-co/chuong-trinh").status_code == 404
    assert client.get("/chuong-trinh?khu-vuc=khong-co").status_code == 404
    month = client.get(f"/lich-thang?khu-vuc={COMMUNE}&thang=2026-12&ngay=2026-12-10")
    assert month.status_code == 200
    day = visible_text(month.text).split("Thứ Năm 10/12/2026")[1]
    assert "2 buổi phát" in day and "06:00–" in day and "17:00–" in day


def test_emergency_counts_as_json_and_as_a_plain_page(world: World) -> None:
    client = world.client
    _sign_in(client, "quantri")
    counts = client.get(f"/phat/{world.broadcast}/so-loa").json()
    assert (counts["targeted"], counts["reached"], counts["finished"]) == (3, 2, 1)
    # Thôn 1 and 2 online; Thôn 3 never connected: said as the device page says it.
    assert (counts["online"], counts["offline"], counts["never"]) == (2, 0, 1)
    assert counts["sentence"] == "Đã phát xong 1/3 loa · lỗi 1 · chưa báo 1"
    page = visible_text(client.get("/khan-cap").text)  # without JavaScript: the numbers
    assert "Loa nhận lệnh\n3" in page and "Đã phát tới\n2" in page
    assert "Chưa kết nối lần nào\n1" in page
    assert "3 loa, 2 trực tuyến" in page  # beside Xã Tân Tiến in the zone choices


def test_proof_page_and_spreadsheet(world: World) -> None:
    client = world.client
    _sign_in(client, "duyet")
    page = visible_text(client.get(f"/phat/{world.broadcast}/bang-chung").text)
    assert "Đã phát xong 1/3 loa" in page and "Trễ" in page
    r = client.get(f"/phat/{world.broadcast}/bang-chung?format=csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Loa", "Mã loa", "Khu vực", "Giờ dự kiến"]
    results = {row[1]: row[8] for row in rows[1:]}
    assert results == {
        "loa-tan-tien-thon-1": "Đã phát xong",
        "loa-tan-tien-thon-2": "Lỗi",
        "loa-tan-tien-thon-3": "Chưa báo",
    }


def test_every_list_searches_and_shows_its_total(world: World) -> None:
    client = world.client
    _sign_in(client, "quantri")
    for path, expect in (
        ("/thong-bao?q=Họp thôn", "Tất cả 1 thông báo."),
        ("/lich-phat?q=Tân Tiến", "Tất cả 1 lịch phát."),
        ("/thiet-bi?q=Tân Tiến", "Tất cả 3 loa."),
        ("/phat?q=Tân Tiến", "Tất cả"),
        ("/nhat-ky?q=Thông báo viết sai", "Tất cả"),
        ("/thong-bao?q=không có gì", "Không có thông báo nào."),
    ):
        page = visible_text(client.get(path).text)
        assert expect in page, (path, page[-400:])
        assert "Kết quả tìm" in page, path
    devices = visible_text(client.get("/thiet-bi").text)
    assert "Loa 1–9" not in devices and "Tất cả 9 loa." in devices
