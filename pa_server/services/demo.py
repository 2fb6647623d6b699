"""A demo district for `pa-server run --demo`: Vĩnh Tường with communes, villages, loudspeakers
and the Bluezone campaign, so a newcomer sees a living system.

Seeds only an empty database; every step goes through the same services as the API.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import utc_now
from pa_server.auth.rights import Actor, Role
from pa_server.config import Settings
from pa_server.db.models import Zone
from pa_server.schemas.announcements import AnnouncementCreate, RenderOptions
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.schedules import ScheduleCreate
from pa_server.schemas.zones import ZoneCreate
from pa_server.services import announcements, devices, schedules, zones
from pa_server.services.context import UseCase
from pa_server.services.errors import ServiceError
from pa_server.services.renditions import RendererLike

log = logging.getLogger(__name__)

DISTRICT = ("vinh-tuong", "Huyện Vĩnh Tường")
#: (slug, name, villages)
COMMUNES = (
    ("tan-tien", "Tân Tiến", ("thon-1", "thon-2", "thon-3")),
    ("vinh-thinh", "Vĩnh Thịnh", ("thon-dong", "thon-tay")),
    ("tu-trung", "Tứ Trưng", ("thon-trung", "thon-bac")),
    ("ngu-kien", "Ngũ Kiên", ("thon-1", "thon-2")),
)
VILLAGE_NAMES = {
    "thon-1": "Thôn 1",
    "thon-2": "Thôn 2",
    "thon-3": "Thôn 3",
    "thon-dong": "Thôn Đông",
    "thon-tay": "Thôn Tây",
    "thon-trung": "Thôn Trung",
    "thon-bac": "Thôn Bắc",
}
HOTLINE = "0211 3855 123"


def seed(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    renderer: RendererLike | None,
    now: datetime | None = None,
) -> bool:
    """Seed the demo district into an empty database; False if it already held zones."""
    now = now or utc_now()
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(Zone)):
            log.info("demo: the database already has zones; nothing seeded")
            return False
        try:
            _seed(session, settings, renderer, now)
        except ServiceError as exc:
            session.rollback()
            log.error("demo: seeding failed (%s: %s); nothing seeded", exc.code, exc.message)
            return False
        session.commit()
    return True


#: The seed's two people: it writes as one and approves as another, like staff would.
DEMO_AUTHOR = Actor(id=0, username="demo-soan", role=Role.ADMIN, full_name="Dữ liệu mẫu")
DEMO_APPROVER = Actor(id=0, username="demo-duyet", role=Role.ADMIN, full_name="Dữ liệu mẫu")


def _seed(
    session: Session, settings: Settings, renderer: RendererLike | None, now: datetime
) -> None:
    uc = UseCase(session, DEMO_AUTHOR, now, settings, renderer=renderer)

    def zone(path: str, name: str) -> None:
        zones.create_zone(uc, ZoneCreate(path=path, name=name))

    zone(*DISTRICT)
    district = DISTRICT[0]
    count = 0
    for slug, name, villages in COMMUNES:
        commune = f"{district}/{slug}"
        zone(commune, f"Xã {name}")
        for village in villages:
            zone(f"{commune}/{village}", VILLAGE_NAMES[village])
            devices.create_device(
                uc,
                DeviceCreate(
                    id=f"loa-{slug}-{village}",
                    zone=f"{commune}/{village}",
                    name=f"Loa {VILLAGE_NAMES[village]}, xã {name}",
                    location="Nhà văn hóa thôn",
                ),
            )
            count += 1
        _campaign(uc, commune, name)
    log.info(
        "demo: seeded %s with %d communes and %d loudspeakers", DISTRICT[1], len(COMMUNES), count
    )


def _campaign(uc: UseCase, commune: str, name: str) -> None:
    """The Bluezone campaign in one commune: 6:00 and 17:00 daily for three weeks."""
    ann = announcements.create_announcement(
        uc,
        AnnouncementCreate(
            title=f"Cài đặt Bluezone — xã {name}",
            script_name="bluezone-cai-dat",
            placeholders={"commune": name, "district": "Vĩnh Tường", "hotline": HOTLINE},
            level="priority",
        ),
    )
    if uc.renderer is None:
        log.warning("demo: no audio renderer; %s stays a draft, unscheduled", ann.title)
        return
    announcements.render_announcement(
        uc, ann.id, RenderOptions(engine="espeak", intro_commune=name)
    )
    announcements.approve_announcement(replace(uc, actor=DEMO_APPROVER), ann.id)
    today = uc.now.astimezone(ZoneInfo(uc.settings.timezone)).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=ann.id,
            title=f"Chiến dịch Bluezone — xã {name}",
            zones=[commune],
            rrule="FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0",
            start=today,
            end=today + timedelta(days=21),
        ),
    )
