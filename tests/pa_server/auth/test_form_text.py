"""Page forms refuse control characters with a Vietnamese 422, never a 500 (both databases)."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData, Headers, UploadFile

from pa_server.auth.deps import check_form_text
from pa_server.auth.errors import BadText
from pa_server.auth.sessions import COOKIE_NAME, CSRF_FIELD
from tests.pa_server.auth.conftest import PASSWORD, Site

VIETNAMESE_REFUSAL = "ký tự điều khiển không hợp lệ"


@pytest.mark.parametrize("field", ["username", "password", "next"])
def test_sign_in_with_a_nul_is_a_vietnamese_422(site: Site, field: str) -> None:
    site.add_user("an")
    site.client.get("/dang-nhap")
    csrf = site.csrf_of(site.client.cookies[COOKIE_NAME])
    form = {"username": "an", "password": PASSWORD, "next": "/", CSRF_FIELD: csrf}
    form[field] += "\x00"
    response = site.client.post("/dang-nhap", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert VIETNAMESE_REFUSAL in response.text


def test_a_signed_in_form_with_a_nul_is_a_vietnamese_422(site: Site) -> None:
    site.add_user("quantri")
    cookie = site.sign_in("quantri")
    site.client.cookies.set(COOKIE_NAME, cookie)
    form = {"title": "Tin\x00", "text": "Nội dung", CSRF_FIELD: site.csrf_of(cookie)}
    response = site.client.post("/thong-bao/moi", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert VIETNAMESE_REFUSAL in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/cong-khai/xa%00a",
        "/cong-khai/xa%00a/rss.xml",
        "/cong-khai/Xa%20A",
        "/cong-khai/..%2F..%2Fetc",
        "/cong-khai/xa-a/rss.xml%00",
        "/cong-khai/" + "a" * 600,
        "/cong-khai/khong-co",
    ],
)
def test_the_public_page_of_a_bad_or_unknown_zone_is_not_found(site: Site, path: str) -> None:
    response = site.client.get(path)
    assert response.status_code == 404
    assert "Không" in response.text


def test_line_breaks_only_in_the_text_areas() -> None:
    check_form_text(FormData([("text", "Dòng 1\r\nDòng 2\tcuối"), ("reason", "a\nb")]))
    for name, value in (("title", "a\nb"), ("text", "a\x00b"), ("zone\x00", "x")):
        with pytest.raises(BadText) as info:
            check_form_text(FormData([(name, value)]))
        assert info.value.field == name


def test_an_uploaded_file_name_with_a_nul_is_refused() -> None:
    upload = UploadFile(file=None, filename="ghi\x00am.wav", headers=Headers())  # type: ignore[arg-type]
    with pytest.raises(BadText):
        check_form_text(FormData([("recording", upload)]))
