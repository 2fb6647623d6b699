"""Shared by the service tests: a seeded district with one approved, scheduled announcement."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session

from pa_server.schemas.announcements import AnnouncementCreate, RenderOptions
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.schedules import ScheduleCreate
from pa_server.services import announcements, devices, schedules
from tests.pa_server.server_fixtures import NOW, TEST_APPROVER, FakeRenderer, add_zone, use_case

HORIZON = timedelta(hours=48)
BASE = "http://pa.test:8000"


def seed(session: Session, tmp_media: FakeRenderer) -> str:
    for path, name in (("vinh-tuong", "Vĩnh Tường"), ("vinh-tuong/tan-tien", "Tân Tiến")):
        add_zone(session, path, name)
    uc = use_case(session, data_dir=tmp_media.media_dir.parent, renderer=tmp_media)
    devices.create_device(uc, DeviceCreate(id="loa-01", zone="vinh-tuong/tan-tien"))
    ann = announcements.create_announcement(
        uc, AnnouncementCreate(title="Bluezone", text="Cài Bluezone.")
    )
    announcements.render_announcement(uc, ann.id, RenderOptions())
    announcements.approve_announcement(replace(uc, actor=TEST_APPROVER), ann.id)
    sched = schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=ann.id,
            zones=["vinh-tuong/tan-tien"],
            rrule="FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0",
            start=NOW.replace(hour=0),
        ),
    )
    session.commit()
    return sched.id
