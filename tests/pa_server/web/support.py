"""The demo district with what the pages must say well, for the visible-text and phone tests.

A draft, a rejected announcement, an emergency broadcast with a finished, a failed and a silent
loudspeaker, devices online, offline and never seen (one reporting an English error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from pa_server.auth import accounts
from pa_server.auth.demo import DEMO_PASSWORD
from pa_server.db.models import DeviceState, Receipt
from pa_server.live.engine import FakeLiveEngine
from pa_server.live.sources import SilentRelay
from pa_server.schemas.announcements import AnnouncementCreate
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.schemas.live import LiveCreate
from pa_server.services import announcements, broadcasts, live, schedules
from pa_server.services.context import UseCase
from pa_server.services.live import LiveHub

COMMUNE = "vinh-tuong/tan-tien"


class NullDispatcher:
    """Takes the broadcast without sending anything (no bus in this test)."""

    def sync(self, *args: object, **kwargs: object) -> list[str]:
        return []

    def command(self, *args: object, **kwargs: object) -> str:
        return "id"

    def stop(self, *args: object, **kwargs: object) -> list[str]:
        return []


@dataclass
class World:
    """The app, and the ids of what each page shows."""

    client: TestClient
    draft: str
    rejected: str
    approved: str
    schedule: str
    broadcast: str
    #: A running microphone session of "vanhanh", and a relay that failed with a recording.
    live_mic: str = ""
    live_failed: str = ""
    #: An approved relay to schedule ("Tiếp sóng VOV1", 30 minutes).
    relay_program: str = ""


def seed_world(client: TestClient) -> World:
    """Add the states above to the demo district of `client`'s app (its lifespan has run)."""
    app = client.app
    now = datetime.now(UTC)
    settings = app.state.settings  # type: ignore[attr-defined]
    with app.state.sessions() as db:  # type: ignore[attr-defined]
        people = {u.username: accounts.actor_of(u) for u in accounts.list_users(db)}

        def as_(username: str, at: datetime = now) -> UseCase:
            return UseCase(db, people[username], at, settings, NullDispatcher())  # type: ignore[arg-type]

        draft = announcements.create_announcement(
            as_("vanhanh"),
            AnnouncementCreate(title="Họp thôn tối nay", text="Mời bà con họp lúc 19 giờ."),
        )
        rejected = announcements.create_announcement(
            as_("vanhanh"),
            AnnouncementCreate(title="Thông báo viết sai", text="Nội dung sai.", level="priority"),
        )
        announcements.reject_announcement(as_("duyet"), rejected.id, "Sai ngày họp")
        # COMMUNE's own campaign (its words name COMMUNE), not whichever the list gives first:
        # the demo's communes share one moment of creation, so that order is by random id.
        campaigns, _ = schedules.list_schedules(db, announcement_id=None, limit=100, offset=0)
        schedule = next(s for s in campaigns if schedules.schedule_public(s).zones == [COMMUNE])
        approved = announcements.get_announcement(db, schedule.announcement_id)
        occ = broadcasts.put_on_air(
            as_("quantri", now - timedelta(minutes=5)),
            BroadcastCreate(announcement_id=approved.id, zones=[COMMUNE], level="emergency"),
            confirmed=True,
        )
        for device, kinds, detail in (
            ("loa-tan-tien-thon-1", ("fetched", "started", "finished"), None),
            ("loa-tan-tien-thon-2", ("fetched", "started", "failed"), "alsa: device busy"),
        ):
            for i, kind in enumerate(kinds):
                at = now - timedelta(minutes=4) + timedelta(seconds=i)
                db.add(
                    Receipt(
                        device_id=device,
                        occurrence_id=occ.id,
                        type=kind,
                        at=at,
                        late_ms=0,
                        detail=detail if kind == "failed" else None,
                        received_at=at,
                    )
                )
        states = {
            "loa-tan-tien-thon-1": (
                True,
                {"volume": 70, "clock_offset_ms": 5, "clock_synced": True},
            ),
            "loa-tan-tien-thon-2": (
                True,
                {"volume": 40, "last_error": "unsupported protocol version None", "playing": True},
            ),
            "loa-vinh-thinh-thon-dong": (False, {"volume": 50}),
        }
        for device, (online, payload) in states.items():
            db.add(
                DeviceState(
                    device_id=device, online=online, at=now, received_at=now, payload=payload
                )
            )
        db.commit()
        # Live audio on a fake engine: a microphone session running, a relay that failed.
        hub = LiveHub(
            FakeLiveEngine(),
            sessions=app.state.sessions,  # type: ignore[attr-defined]
            mics=app.state.live_mics,  # type: ignore[attr-defined]
            relay_source=SilentRelay,
        )
        app.state.live = hub  # type: ignore[attr-defined]
        # 10:00 of the district's today (the programme's today, whatever the hour in UTC), as
        # the demo's own campaigns are placed: outside the quiet hours. It may be ahead of the
        # clock or behind it; either way the relay, whose source dies at once, is a failed
        # broadcast.
        local = ZoneInfo(settings.timezone)
        day = datetime.combine(now.astimezone(local).date(), time(10), local).astimezone(UTC)
        mic, _ = live.start_mic(
            as_("vanhanh", day), hub, LiveCreate(title="Họp thôn khẩn", zones=[COMMUNE])
        )
        relay = live.start_relay(
            as_("quantri", day),
            hub,
            LiveCreate(title="Tiếp sóng VOV1", zones=[COMMUNE], url="http://radio.test/vov1"),
        )
        hub.require().end(relay.id, "failed", "Connection refused")  # type: ignore[attr-defined]
        program = live.create_relay(
            as_("vanhanh"), title="Tiếp sóng VOV1", url="https://vov.test/vov1.m3u8", minutes=30
        )
        announcements.approve_announcement(as_("duyet"), program.id)
        db.commit()
        return World(
            client,
            draft.id,
            rejected.id,
            approved.id,
            schedule.id,
            occ.id,
            mic.id,
            relay.id,
            program.id,
        )


def sign_in_demo(client: TestClient, username: str) -> str:
    """Sign in as a demo account (any earlier session dropped); returns the page CSRF token."""
    client.cookies.clear()
    page = client.get("/dang-nhap").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = client.post(
        "/dang-nhap",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert found
    return found.group(1)
