"""The alert tests' district: two villages with points, loudspeakers, a geocode, a publisher."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from pa_server.db.alerts import CapPublisher
from pa_server.db.models import Occurrence, Receipt
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import alerts, devices
from pa_server.services.context import UseCase
from tests.pa_server.alerts.capdocs import GEOCODE, SENDER
from tests.pa_server.server_fixtures import NOW, FakeDispatcher, FakeRenderer, add_zone, use_case

TAN_TIEN = "vinh-tuong/tan-tien"
LUNG_HOA = "vinh-tuong/lung-hoa"


def seed_district(session: Session, tmp_path: Path) -> tuple[UseCase, str]:
    """Zones, devices, the geocode table and a publisher `kttv`; returns (admin uc, token)."""
    for path, name in (
        ("vinh-tuong", "Vĩnh Tường"),
        (TAN_TIEN, "Tân Tiến"),
        (LUNG_HOA, "Lũng Hòa"),
    ):
        add_zone(session, path, name, timezone="Asia/Ho_Chi_Minh", now=NOW)
    uc = admin_uc(session, tmp_path)
    devices.create_device(uc, DeviceCreate(id="loa-01", zone=TAN_TIEN))
    devices.create_device(uc, DeviceCreate(id="loa-02", zone=LUNG_HOA))
    alerts.set_zone_point(uc, TAN_TIEN, 21.25, 105.50)
    alerts.set_zone_point(uc, LUNG_HOA, 21.40, 105.70)
    alerts.set_geocode(uc, GEOCODE[0], GEOCODE[1], TAN_TIEN)
    _, token = alerts.create_publisher(uc, "kttv", ["vinh-tuong"], [SENDER])
    session.commit()
    return uc, token


def admin_uc(session: Session, tmp_path: Path, **kw: object) -> UseCase:
    return use_case(
        session,
        data_dir=tmp_path,
        renderer=FakeRenderer(tmp_path / "data" / "media"),
        dispatcher=kw.pop("dispatcher", None) or FakeDispatcher(),
        emergency_lead_s=3,
        broadcast_lead_s=8,
        # The tests' feeds are local HTTP servers (a public address in real life).
        cap_feed_allowed_networks=kw.pop("cap_feed_allowed_networks", "127.0.0.0/8"),
        **kw,
    )


def as_publisher(uc: UseCase, session: Session, name: str = "kttv") -> UseCase:
    pub = session.query(CapPublisher).filter_by(name=name).one()
    return replace(uc, actor=alerts.publisher_actor(pub))


def heard(session: Session, device_id: str, occ: Occurrence, at: datetime) -> None:
    """`device_id` reported starting `occ` at its minute (received at `at`)."""
    session.add(
        Receipt(
            device_id=device_id,
            occurrence_id=occ.id,
            type="started",
            at=occ.play_at,
            received_at=at,
        )
    )
