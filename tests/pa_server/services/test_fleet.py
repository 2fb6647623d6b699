"""Zones and loudspeakers as use cases: names in, slugs derived, rights on the result, audited.

Runs on SQLite and, when `PA_TEST_DATABASE_URL` is set, PostgreSQL (the `session` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.config import load_config
from pa_server.auth.errors import AccountError, Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor, Role
from pa_server.db.models import Device, Zone
from pa_server.messaging.broker_acl import verify_password
from pa_server.schemas.devices import DeviceCreate, DeviceUpdate
from pa_server.schemas.schedules import ScheduleCreate
from pa_server.schemas.zones import ZoneCreate, ZoneUpdate
from pa_server.services import accounts, devices, provisioning, schedules, zones
from pa_server.services.context import UseCase
from pa_server.services.errors import Conflict, Invalid
from tests.pa_server.server_fixtures import NOW, use_case

ADMIN = Actor(id=1000, username="quantri", role=Role.ADMIN)
OPERATOR = Actor(id=2, username="vanhanh", role=Role.OPERATOR, zones=("huyen/xa-tan-tien",))
APPROVER = Actor(id=3, username="duyet", role=Role.APPROVER)
VIEWER = Actor(id=4, username="xem", role=Role.VIEWER)


@pytest.fixture
def as_(session: Session, tmp_path: Path) -> object:
    def make(actor: Actor) -> UseCase:
        return use_case(session, actor, data_dir=tmp_path)

    return make


def _tree(uc: UseCase) -> None:
    zones.create_zone(uc, ZoneCreate(path="huyen", name="Huyện Thử"))
    zones.create_zone(uc, ZoneCreate(parent="huyen", name="Xã Tân Tiến"))
    zones.create_zone(uc, ZoneCreate(parent="huyen", name="Xã Đông Hòa"))


def test_zones_are_added_by_name_with_derived_unique_slugs(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    admin = as_(ADMIN)
    _tree(admin)
    village = zones.create_zone(admin, ZoneCreate(parent="huyen/xa-tan-tien", name="Thôn Đông"))
    assert village.path == "huyen/xa-tan-tien/thon-dong" and village.name == "Thôn Đông"
    # Another name with the same slug among the same siblings gets the next free one.
    twin = zones.create_zone(admin, ZoneCreate(parent="huyen", name="Xã Tấn Tiền"))
    assert twin.path == "huyen/xa-tan-tien-2"
    # The same name twice under one parent is refused; under another parent it is fine.
    with pytest.raises(Invalid) as dup:
        zones.create_zone(admin, ZoneCreate(parent="huyen", name="xã tân tiến"))
    assert dup.value.code == "duplicate_name"
    assert zones.create_zone(admin, ZoneCreate(parent="huyen/xa-dong-hoa", name="Thôn Đông"))
    for bad, code in (("!!! ???", "invalid_name"), ("   ", "invalid_name")):
        with pytest.raises(Invalid) as refused:
            zones.create_zone(admin, ZoneCreate(parent="huyen", name=bad))
        assert refused.value.code == code
    with pytest.raises(Invalid) as orphan:
        zones.create_zone(admin, ZoneCreate(parent="khong-co", name="Xã Ma"))
    assert orphan.value.code == "unknown_zone"


def test_rename_keeps_the_path_and_delete_needs_an_empty_zone(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    admin = as_(ADMIN)
    _tree(admin)
    zones.update_zone(admin, "huyen/xa-tan-tien", ZoneUpdate(name="Xã Tân Tiến Mới"))
    zone = session.get_one(Zone, "huyen/xa-tan-tien")
    assert zone.name == "Xã Tân Tiến Mới"
    with pytest.raises(Invalid) as dup:
        zones.update_zone(admin, "huyen/xa-tan-tien", ZoneUpdate(name="Xã Đông Hòa"))
    assert dup.value.code == "duplicate_name"
    devices.create_device(admin, DeviceCreate(zone="huyen/xa-tan-tien", name="Loa chợ"))
    accounts.add_user(
        admin, "vanhanh", role="operator", password="mat-khau-dai-1", zones=["huyen/xa-dong-hoa"]
    )
    for path, usage in (
        ("huyen", "children"),
        ("huyen/xa-tan-tien", "devices"),
        ("huyen/xa-dong-hoa", "users"),
    ):
        with pytest.raises(Conflict) as in_use:
            zones.delete_zone(admin, path)
        assert in_use.value.code == "zone_in_use"
        assert getattr(zones.zone_usage(session, path), usage), path
    empty = zones.create_zone(admin, ZoneCreate(parent="huyen", name="Xã Trống"))
    zones.delete_zone(admin, empty.path)
    assert session.get(Zone, empty.path) is None


def test_only_an_admin_changes_the_tree(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    _tree(as_(ADMIN))
    for actor in (OPERATOR, APPROVER, VIEWER):
        uc = as_(actor)
        with pytest.raises(Forbidden):
            zones.create_zone(uc, ZoneCreate(parent="huyen/xa-tan-tien", name="Thôn Mới"))
        with pytest.raises(Forbidden):
            zones.update_zone(uc, "huyen/xa-tan-tien", ZoneUpdate(name="Đổi"))
        with pytest.raises(Forbidden):
            zones.delete_zone(uc, "huyen/xa-dong-hoa")
    # Nothing of it reached the store.
    assert session.get_one(Zone, "huyen/xa-tan-tien").name == "Xã Tân Tiến"
    assert session.get(Zone, "huyen/xa-tan-tien/thon-moi") is None


def test_zone_changes_are_audited_under_the_admin(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    admin = as_(ADMIN)
    _tree(admin)
    zones.update_zone(admin, "huyen/xa-dong-hoa", ZoneUpdate(name="Xã Đông Hòa A"))
    zones.delete_zone(admin, "huyen/xa-dong-hoa")
    session.flush()
    rows = [
        (e.actor_name, e.action, e.entity_id)
        for e in session.scalars(select(AuditEntry).where(AuditEntry.entity == "zones"))
    ]
    assert ("quantri", "create", "huyen/xa-tan-tien") in rows
    assert ("quantri", "update", "huyen/xa-dong-hoa") in rows
    assert ("quantri", "delete", "huyen/xa-dong-hoa") in rows


def test_an_account_gets_only_zones_that_exist(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    admin = as_(ADMIN)
    _tree(admin)
    with pytest.raises(AccountError) as unknown:
        accounts.add_user(
            admin, "an", role="operator", password="mat-khau-dai-1", zones=["huyen/xa-khong-co"]
        )
    assert unknown.value.code == "unknown_zone" and unknown.value.field == "zones"
    user = accounts.add_user(
        admin, "an", role="operator", password="mat-khau-dai-1", zones=["huyen/xa-tan-tien"]
    )
    with pytest.raises(AccountError):
        accounts.change_user(admin, user.id, zones=["Tân Tiến"])
    assert user.zones == ["huyen/xa-tan-tien"]


def test_a_loudspeaker_added_by_name_gets_an_id_and_a_config_the_agent_reads(
    session: Session,
    as_,  # type: ignore[no-untyped-def]
) -> None:
    _tree(as_(ADMIN))
    operator = as_(OPERATOR)
    device, password = devices.create_device(
        operator, DeviceCreate(zone="huyen/xa-tan-tien", name="Loa chợ", location="Cột điện")
    )
    assert device.id == "xa-tan-tien-loa-cho"
    text = provisioning.device_config_toml(device, password, operator.settings)
    path = operator.settings.data_dir / "config.toml"
    path.write_text(text)
    config = load_config(path, env={})  # as the agent reads it at start
    assert config.device.id == device.id and config.device.zone == "huyen/xa-tan-tien"
    assert config.mqtt.username == device.id and config.mqtt.password == password
    assert verify_password(password, device.credential_hash)
    # A form sent twice does not register the loudspeaker twice.
    with pytest.raises(Invalid) as twice:
        devices.create_device(operator, DeviceCreate(zone="huyen/xa-tan-tien", name="loa chợ"))
    assert twice.value.code == "duplicate_name"
    # Same name elsewhere: a different id.
    other, _ = devices.create_device(
        as_(ADMIN), DeviceCreate(zone="huyen/xa-dong-hoa", name="Loa chợ")
    )
    assert other.id == "xa-dong-hoa-loa-cho"
    # The operator cannot add one in another commune, nor in a zone that does not exist.
    with pytest.raises(Forbidden):
        devices.create_device(operator, DeviceCreate(zone="huyen/xa-dong-hoa", name="Loa lạ"))
    with pytest.raises(Forbidden):
        devices.create_device(operator, DeviceCreate(zone="huyen/khong-co", name="Loa lạ"))
    with pytest.raises(Invalid):
        devices.create_device(as_(ADMIN), DeviceCreate(zone="huyen/khong-co", name="Loa lạ"))


def test_move_gives_a_new_config_and_needs_both_ends(session: Session, as_) -> None:  # type: ignore[no-untyped-def]
    admin = as_(ADMIN)
    _tree(admin)
    zones.create_zone(admin, ZoneCreate(parent="huyen/xa-tan-tien", name="Thôn 1"))
    device, old = devices.create_device(
        as_(OPERATOR), DeviceCreate(zone="huyen/xa-tan-tien", name="Loa chợ")
    )
    moved, new = devices.move_device(as_(OPERATOR), device.id, "huyen/xa-tan-tien/thon-1")
    assert moved.zone_path == "huyen/xa-tan-tien/thon-1"
    assert new != old and verify_password(new, moved.credential_hash)
    with pytest.raises(Forbidden):  # out of the operator's commune
        devices.move_device(as_(OPERATOR), device.id, "huyen/xa-dong-hoa")
    with pytest.raises(Invalid):
        devices.move_device(admin, device.id, "huyen/khong-co")
    assert session.get_one(Device, device.id).zone_path == "huyen/xa-tan-tien/thon-1"
    renamed = devices.update_device(as_(OPERATOR), device.id, DeviceUpdate(name="Loa cổng chợ"))
    assert renamed.name == "Loa cổng chợ" and renamed.id == device.id
    with pytest.raises(Invalid):
        devices.update_device(as_(OPERATOR), device.id, DeviceUpdate(name="  "))
    session.flush()
    rows = {
        (e.actor_name, e.action)
        for e in session.scalars(select(AuditEntry).where(AuditEntry.entity_id == device.id))
    }
    assert {("vanhanh", "create"), ("vanhanh", "update")} <= rows


def test_retiring_is_refused_while_a_schedule_names_the_loudspeaker(
    session: Session,
    as_,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import timedelta

    from pa_server.schemas.announcements import AnnouncementCreate
    from pa_server.services import announcements

    admin = as_(ADMIN)
    _tree(admin)
    device, _ = devices.create_device(admin, DeviceCreate(zone="huyen/xa-tan-tien", name="Loa"))
    spare, _ = devices.create_device(admin, DeviceCreate(zone="huyen/xa-tan-tien", name="Loa 2"))
    ann = announcements.create_announcement(admin, AnnouncementCreate(title="Họp", text="Họp."))
    session.get_one(type(ann), ann.id).status = "approved"
    sched = schedules.create_schedule(
        admin,
        ScheduleCreate(
            announcement_id=ann.id,
            title="Họp thôn",
            devices=[device.id],
            rrule="FREQ=DAILY;BYHOUR=8;BYMINUTE=0",
            start=(NOW + timedelta(days=1)).replace(tzinfo=None),
        ),
    )
    with pytest.raises(Conflict) as in_use:
        devices.delete_device(admin, device.id)
    assert in_use.value.code == "device_in_use"
    assert [s.id for s in devices.device_schedules(session, device.id)] == [sched.id]
    with pytest.raises(Forbidden):
        devices.delete_device(
            as_(Actor(9, "khac", Role.OPERATOR, ("huyen/xa-dong-hoa",))), spare.id
        )
    devices.delete_device(admin, spare.id)
    assert session.get(Device, spare.id) is None
    session.flush()
    assert session.scalar(
        select(AuditEntry).where(AuditEntry.entity_id == spare.id, AuditEntry.action == "delete")
    )
