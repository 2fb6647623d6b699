"""Hostile CAP tests: another commune's approver, another publisher's Update and Cancel, XML
that reads files, and feeds (or the links and redirects in them) aimed at the server's own
network — a feed's body is kept and shown, so reading one would read the network out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.alerts import CapInvalid
from pa_server.alerts.cap import parse_cap
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.db.alerts import CapAlert, CapMessage
from pa_server.services import alerts
from pa_server.services.alerts import Door
from pa_server.services.errors import Invalid
from tests.pa_server.alerts.capdocs import SENDER, area, cap, later
from tests.pa_server.alerts.support import LUNG_HOA, TAN_TIEN, admin_uc, as_publisher, seed_district
from tests.pa_server.server_fixtures import NOW

EXPIRES = later(NOW, hours=5)
LUNG_HOA_AREA = area(geocode=None, circle="21.40,105.70 3")


def _draft_in_lung_hoa(session: Session, tmp_path: Path) -> CapAlert:
    seed_district(session, tmp_path)
    doc = cap("LH-1", NOW, severity="Severe", expires=EXPIRES, areas=LUNG_HOA_AREA)
    msg = alerts.receive(as_publisher(admin_uc(session, tmp_path), session), doc, Door("push"))
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None and alert.state == "draft" and alert.zones == [LUNG_HOA], msg.reason
    session.commit()
    return alert


def test_another_communes_approver_cannot_put_an_alert_on_air(
    session: Session, tmp_path: Path
) -> None:
    alert = _draft_in_lung_hoa(session, tmp_path)
    approver_a = Actor(id=11, username="duyet-a", role=Role.APPROVER, zones=(TAN_TIEN,))
    with pytest.raises(Forbidden):
        alerts.approve_alert(replace(admin_uc(session, tmp_path), actor=approver_a), alert.id)
    session.rollback()
    assert session.get(CapAlert, alert.id).state == "draft"  # type: ignore[union-attr]


def test_another_publisher_cannot_update_or_cancel_an_alert(
    session: Session, tmp_path: Path
) -> None:
    uc, _ = seed_district(session, tmp_path)
    alerts.create_publisher(uc, "tinh", ["vinh-tuong"], [SENDER])  # same zones and sender
    session.commit()
    first = alerts.receive(
        as_publisher(admin_uc(session, tmp_path), session),
        cap("LU-1", NOW, expires=EXPIRES),
        Door("push"),
    )
    assert first.verdict == "accepted"
    other = as_publisher(admin_uc(session, tmp_path), session, "tinh")
    at = later(NOW, minutes=5)
    update = cap(
        "LU-1b",
        at,
        msg_type="Update",
        references=[("LU-1", NOW)],
        headline="Hết lũ",
        expires=EXPIRES,
    )
    cancel = cap("LU-1c", at, msg_type="Cancel", references=[("LU-1", NOW)])
    for doc in (update, cancel):
        msg = alerts.receive(replace(other, now=at), doc, Door("push"))
        assert (msg.verdict, msg.code) == ("out_of_scope", "alert_other_publisher")
    alert = session.get(CapAlert, first.alert_id)
    assert alert is not None and alert.state == "on_air" and alert.headline != "Hết lũ"


def test_xml_that_reads_files_or_grows_is_refused() -> None:
    external = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>'
    )
    for doc, code in (
        (external, "cap_unsafe_xml"),
        (b"<a>" + b"x" * 5000 + b"</a>", "cap_too_large"),
    ):
        with pytest.raises(CapInvalid) as refused:
            parse_cap(doc, max_bytes=4096)
        assert refused.value.code == code


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:8000/api/v1/accounts",
        "http://localhost:1780/jsonrpc",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/cap.atom",
    ],
)
def test_a_feed_on_the_servers_own_network_is_refused(
    session: Session, tmp_path: Path, url: str
) -> None:
    seed_district(session, tmp_path)
    uc = admin_uc(session, tmp_path, cap_feed_allowed_networks="")
    pub = alerts.list_publishers(session)[0]
    with pytest.raises(Invalid) as refused:
        alerts.add_feed(uc, pub.id, url)
    assert refused.value.code in ("bad_url", "feed_host_refused")
    assert alerts.list_feeds(session) == []


class _Publisher:
    """A publisher's web server: a feed at /feed, a redirect at /go, an alert at /lu.xml."""

    def __init__(self) -> None:
        self.feed = b""
        self.alert = b""
        self.location = ""
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/go":
                    self.send_response(302)
                    self.send_header("Location", served.location)
                    self.end_headers()
                    return
                body = served.feed if self.path == "/feed" else served.alert
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def publisher() -> Iterator[_Publisher]:
    served = _Publisher()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:feed</id><title>KTTV</title><updated>2026-08-09T22:00:00Z</updated>"
        + "".join(
            f"<entry><id>urn:x:{i}</id><title>x</title><updated>2026-08-09T22:00:00Z</updated>"
            f"{e}</entry>"
            for i, e in enumerate(entries)
        )
        + "</feed>"
    ).encode()


def _link(href: str) -> str:
    return f'<link type="application/cap+xml" href="{href}"/>'


def test_links_and_redirects_to_the_servers_network_are_not_read_and_spare_the_rest(
    session: Session, tmp_path: Path, publisher: _Publisher
) -> None:
    """The feed itself is allowed (its host listed); what it links or redirects to is checked
    hop by hop, and a refused link does not hold back the feed's good alerts."""
    seed_district(session, tmp_path)
    uc = admin_uc(session, tmp_path, cap_feed_allowed_networks="127.0.0.1/32")
    pub = alerts.list_publishers(session)[0]
    feed = alerts.add_feed(uc, pub.id, f"{publisher.base}/feed")
    session.commit()
    publisher.alert = cap("LU-9", NOW, expires=EXPIRES)
    publisher.location = "http://169.254.169.254/latest/meta-data/"
    publisher.feed = _atom(
        _link("http://169.254.169.254/latest/meta-data/iam/"),
        _link(f"{publisher.base}/go"),  # a redirect into the metadata service
        _link("file:///etc/passwd"),
        _link(f"{publisher.base}/lu.xml"),
    )
    with httpx.Client(timeout=5) as client:
        polled = alerts.poll_feed(replace(uc, actor=alerts.FEED_POLLER), feed.id, client)
    session.commit()
    assert polled is not None
    messages = session.scalars(select(CapMessage)).all()
    # The good alert was received; nothing from the refused addresses was kept.
    assert [(m.identifier, m.verdict) for m in messages] == [("LU-9", "accepted")]
    # The feed says it is broken and keeps no validators, so the next poll retries it.
    assert polled.last_status == "error" and polled.etag is None and polled.failures == 1
