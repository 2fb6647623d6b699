"""The three doors of CAP intake — a publisher's push, a page upload, a polled feed — each
authenticated, each keeping every message with its verdict; and the public page's alerts."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.auth import accounts
from pa_server.db.alerts import CapAlert, CapFeed, CapMessage
from pa_server.services import alerts
from pa_server.services.context import UseCase
from tests.pa_server.alerts.capdocs import cap, invalid_schema, later
from tests.pa_server.alerts.support import TAN_TIEN, admin_uc, seed_district
from tests.pa_server.server_fixtures import NOW, Api

EXPIRES = later(NOW, hours=5)
LONG = later(NOW, hours=12)
PASSWORD = "mat-khau-dai-1"


def _seed(api: Api, tmp_path: Path) -> str:
    with api.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        _, token = seed_district(session, tmp_path)
        for name, role, zones in (("quantri", "admin", []), ("vanhanh", "operator", [TAN_TIEN])):
            accounts.create_user(session, name, role=role, password=PASSWORD, zones=zones, now=NOW)
        session.commit()
    return token


def _push(api: Api, token: str, doc: bytes) -> httpx.Response:
    return api.client.post(
        "/api/v1/alerts/cap",
        content=doc,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
    )


def test_push_door(api: Api, tmp_path: Path) -> None:
    token = _seed(api, tmp_path)
    refused = _push(api, "pa_not-a-publisher", cap("LU-1", NOW, expires=EXPIRES))
    assert refused.status_code == 401 and refused.json()["detail"]["code"] == "bad_credentials"
    r = _push(api, token, cap("LU-1", NOW, expires=EXPIRES, severity="Severe"))
    assert r.status_code == 202 and r.json()["verdict"] == "accepted", r.text
    (alert,) = api.ok("GET", "/api/v1/alerts")
    assert alert["state"] == "draft" and alert["zones"] == [TAN_TIEN]
    approved = api.ok("POST", f"/api/v1/alerts/{alert['id']}/approve")
    assert approved["state"] == "on_air"
    bad = _push(api, token, invalid_schema(NOW))
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "cap_schema"
    unknown = _push(api, token, cap("X", NOW, msg_type="Cancel", references=[("NOPE", NOW)]))
    assert unknown.status_code == 200 and unknown.json()["verdict"] == "unknown_reference"
    cancel = _push(api, token, cap("LU-1c", NOW, msg_type="Cancel", references=[("LU-1", NOW)]))
    assert cancel.status_code == 202
    verdicts = [m["verdict"] for m in api.ok("GET", "/api/v1/alerts/messages")]
    assert sorted(verdicts) == ["accepted", "accepted", "invalid", "unknown_reference"]
    assert api.ok("GET", "/api/v1/alerts")[0]["state"] == "cancelled"


def _sign_in(api: Api, username: str) -> str:
    client = api.client
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dang-nhap").text)
    assert token
    r = client.post(
        "/dang-nhap",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/canh-bao").text)
    assert found
    return found.group(1)


def test_upload_door_and_the_public_page(api: Api, tmp_path: Path) -> None:
    _seed(api, tmp_path)
    client = api.client
    csrf = _sign_in(api, "vanhanh")
    assert "Nạp bản tin" not in client.get("/canh-bao").text  # not offered to an operator
    r = client.post(
        "/canh-bao/nap",
        data={"csrf_token": csrf},
        files={"file": ("canh-bao.xml", cap("UP-0", NOW, expires=EXPIRES), "application/xml")},
        follow_redirects=False,
    )
    assert r.status_code == 403
    csrf = _sign_in(api, "quantri")
    for doc in (cap("UP-1", NOW, expires=EXPIRES), invalid_schema(NOW)):
        r = client.post(
            "/canh-bao/nap",
            data={"csrf_token": csrf},
            files={"file": ("canh-bao.xml", doc, "application/xml")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        page = client.get(r.headers["location"]).text
        assert ("Đã nhận" in page) is (doc != invalid_schema(NOW))
    assert "Không hợp lệ" in page and "Huge" in page
    listing = client.get("/canh-bao").text
    assert "Lũ quét trên sông Phan" in listing and "Đang phát lặp lại" in listing
    public = client.get(f"/cong-khai/{TAN_TIEN}").text
    assert "Cảnh báo đang có hiệu lực" in public and "Đài KTTV Vĩnh Phúc" in public
    assert "Cảnh báo đang có hiệu lực" not in client.get("/cong-khai/vinh-tuong/lung-hoa").text
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        sources = {m.source for m in session.scalars(select(CapMessage))}
    assert sources == {"quantri"}


class Feed:
    """A local HTTP server standing in for a publisher's Atom feed (ETag honoured)."""

    def __init__(self) -> None:
        self.body = b""
        self.etag = '"v1"'
        self.status = 200
        self.requests: list[dict[str, str]] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed.requests.append(dict(self.headers))
                if feed.status != 200:
                    self.send_response(feed.status)
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == feed.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("ETag", feed.etag)
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cap.atom"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, *docs: bytes, etag: str) -> None:
        entries = "".join(
            f"<entry><id>urn:x:{i}</id><title>x</title><updated>2026-08-09T22:00:00Z</updated>"
            f'<content type="application/cap+xml">{d.decode().split("?>", 1)[1]}</content></entry>'
            for i, d in enumerate(docs)
        )
        self.body = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>urn:feed</id><title>KTTV</title><updated>2026-08-09T22:00:00Z</updated>{entries}</feed>"
        ).encode()
        self.etag = etag


@pytest.fixture
def feed() -> Iterator[Feed]:
    served = Feed()
    yield served
    served.server.shutdown()


def _poll(session: Session, tmp_path: Path, feed_id: int, at=NOW) -> CapFeed:  # type: ignore[no-untyped-def]
    uc: UseCase = admin_uc(session, tmp_path, now=at)
    with httpx.Client(timeout=5) as client:
        result = alerts.poll_feed(replace(uc, actor=alerts.FEED_POLLER), feed_id, client)
    assert result is not None
    session.commit()
    return result


def test_feed_door_honours_etag_and_backs_off(session: Session, tmp_path: Path, feed: Feed) -> None:
    uc, _ = seed_district(session, tmp_path)
    pub = alerts.list_publishers(session)[0]
    feed_row = alerts.add_feed(uc, pub.id, feed.url, interval_s=300)
    session.commit()
    feed.publish(cap("FE-1", NOW, expires=LONG), invalid_schema(NOW), etag='"v1"')
    polled = _poll(session, tmp_path, feed_row.id)
    assert polled.last_status == "ok" and polled.etag == '"v1"' and polled.failures == 0
    assert polled.next_poll_at == NOW + timedelta(seconds=300)
    rows = session.scalars(select(CapMessage).order_by(CapMessage.verdict)).all()
    assert [(m.verdict, m.door, m.source) for m in rows] == [
        ("accepted", "feed", "cap:kttv"),
        ("invalid", "feed", "cap:kttv"),
    ]
    alert = session.scalar(select(CapAlert))
    assert alert is not None and alert.state == "on_air" and alert.publisher == "cap:kttv"
    # Unchanged: the server answers 304 to our If-None-Match, nothing new is kept.
    at = later(NOW, minutes=5)
    polled = _poll(session, tmp_path, feed_row.id, at)
    assert feed.requests[-1].get("If-None-Match") == '"v1"'
    assert polled.last_status == "not_modified"
    assert len(session.scalars(select(CapMessage)).all()) == 2
    # The feed breaks: each failure doubles the wait, and the page shows it.
    feed.status = 500
    waits = []
    for i in range(3):
        at = later(at, hours=1)
        polled = _poll(session, tmp_path, feed_row.id, at)
        waits.append(polled.next_poll_at - at)  # type: ignore[operator]
        assert polled.last_status == "error" and polled.failures == i + 1
        assert polled.last_error and "500" in polled.last_error
    assert waits == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert alerts.due_feeds(session, at) == []
    # It recovers: an Update in the feed replaces the alert's words.
    feed.status = 200
    feed.publish(
        cap("FE-1", NOW, expires=LONG),
        cap(
            "FE-2",
            at,
            msg_type="Update",
            references=[("FE-1", NOW)],
            headline="Lũ đã rút bớt",
            expires=LONG,
        ),
        etag='"v2"',
    )
    polled = _poll(session, tmp_path, feed_row.id, later(at, hours=2))
    assert polled.last_status == "ok" and polled.failures == 0
    session.refresh(alert)
    assert alert.headline == "Lũ đã rút bớt" and alert.state == "on_air"
