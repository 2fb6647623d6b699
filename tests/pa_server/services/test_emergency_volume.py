"""Protocol v2 on the server side: emergency items carry a volume; a stop reaches every target."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from devices import protocol as p
from pa_server.db.models import Announcement, Zone
from pa_server.messaging.bus import FakeBus
from pa_server.messaging.dispatch import DictPublishedStore, Dispatcher
from pa_server.messaging.signing import ServerKeys
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import broadcasts, zones
from pa_server.services.context import UseCase
from pa_server.services.timelines import (
    DEFAULT_EMERGENCY_VOLUME,
    desired_timelines,
    emergency_volume,
)
from tests.pa_server.server_fixtures import NOW, FakeDispatcher, FakeRenderer, add_zone, use_case
from tests.pa_server.services.support import BASE, HORIZON, seed

TAN_TIEN, TAN_HOA, THON = "vinh-tuong/tan-tien", "vinh-tuong/tan-hoa", "vinh-tuong/tan-tien/thon-1"


def _create(uc: UseCase, **over: object) -> str:
    """Put the seeded announcement on air (an emergency confirmed, as its admin would)."""
    ann_id = uc.db.query(Announcement.id).scalar()
    data = BroadcastCreate.model_validate({"announcement_id": ann_id, **over})
    occ = broadcasts.put_on_air(uc, data, confirmed=over.get("level") == "emergency")
    uc.db.commit()
    return occ.id


def _tree(session: Session, tmp_path: Path) -> None:
    seed(session, FakeRenderer(tmp_path / "media"))
    for path, name in ((TAN_HOA, "Tân Hòa"), (THON, "Thôn 1")):
        add_zone(session, path, name)
    session.commit()


def test_emergency_volume_is_inherited_down_the_tree_and_defaults_to_100(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        _tree(s, tmp_path)
        assert emergency_volume(s, THON) == DEFAULT_EMERGENCY_VOLUME == 100
        district = s.get(Zone, "vinh-tuong")
        commune = s.get(Zone, TAN_TIEN)
        assert district is not None and commune is not None
        district.emergency_volume, commune.emergency_volume = 90, 70
        s.commit()
        assert emergency_volume(s, TAN_HOA) == 90  # from the district
        assert emergency_volume(s, TAN_TIEN) == 70  # its own
        assert emergency_volume(s, THON) == 70  # from its commune, the nearest ancestor


def test_emergency_items_carry_the_target_zones_emergency_volume(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dispatcher = FakeDispatcher()
    with sessions() as s:
        _tree(s, tmp_path)
        district = s.get(Zone, "vinh-tuong")
        assert district is not None
        district.emergency_volume = 90
        s.get(Zone, TAN_TIEN).emergency_volume = 70  # type: ignore[union-attr]
        s.commit()
        everywhere = {"zones": [TAN_TIEN, TAN_HOA], "devices": ["loa-01"]}
        uc = use_case(s, data_dir=tmp_path, dispatcher=dispatcher)
        sos = _create(uc, level="emergency", **everywhere)
        loud = _create(uc, level="emergency", volume=40, **everywhere)
        normal = _create(uc, **everywhere)
    plays = {
        (body.occurrence_id, t): body for t, kind, body in dispatcher.commands if kind == "play"
    }
    # The command that plays it now, per target (loa-01 hangs in tan-tien: 70).
    assert plays[sos, f"zone:{TAN_TIEN}"].volume == 70
    assert plays[sos, f"zone:{TAN_HOA}"].volume == 90
    assert plays[sos, "device:loa-01"].volume == 70
    # An operator's explicit volume is kept; a normal item keeps the agent's own volume.
    assert {plays[loud, t].volume for t in (f"zone:{TAN_TIEN}", f"zone:{TAN_HOA}")} == {40}
    assert plays[normal, f"zone:{TAN_HOA}"].volume is None
    # The retained timelines say the same, so an agent that was offline plays it as loud.
    with sessions() as s:
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    for target, volume in (
        (f"zone:{TAN_TIEN}", 70),
        (f"zone:{TAN_HOA}", 90),
        ("device:loa-01", 70),
    ):
        (item,) = [i for i in desired[target] if i.occurrence_id == sos]
        assert item.priority == p.EMERGENCY_PRIORITY and item.volume == volume
        assert item == plays[sos, target]


def test_a_stop_of_a_three_zone_broadcast_sends_three_envelopes(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    keys = ServerKeys.load_or_create(tmp_path / "data")
    bus = FakeBus()
    topics = p.Topics()
    real = Dispatcher(bus, keys, topics, DictPublishedStore())
    with sessions() as s:
        _tree(s, tmp_path)
        uc = use_case(s, data_dir=tmp_path, dispatcher=real)
        occ_id = _create(uc, zones=[TAN_TIEN, TAN_HOA, "vinh-tuong"])
        bus.published.clear()  # the three plays
        broadcasts.stop_broadcast(uc, occ_id)
    targets = [f"zone:{TAN_TIEN}", f"zone:{TAN_HOA}", "zone:vinh-tuong"]
    assert len(bus.published) == 3
    seen = set()
    for topic, payload, retain in bus.published:
        env = p.open_envelope(payload, keys=keys.verification_keys(), now=NOW)
        assert env.kind == "stop" and not retain
        assert isinstance(env.body, p.StopBody) and env.body.occurrence_id == occ_id
        p.check_delivery(env, topic, topics=topics, listens=targets)  # its own topic
        seen.add(env.target)
    assert seen == set(targets)


def test_the_emergency_volume_is_a_zone_setting(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    from pa_server.schemas.zones import ZoneUpdate
    from pa_server.services.errors import Invalid

    with sessions() as s:
        _tree(s, tmp_path)
        add_zone(s, "vinh-tuong/tan-an", "Tân An", emergency_volume=85)
        assert emergency_volume(s, "vinh-tuong/tan-an") == 85
        admin = use_case(s, data_dir=tmp_path)
        zones.update_zone(admin, TAN_HOA, ZoneUpdate(emergency_volume=60))
        assert emergency_volume(s, TAN_HOA) == 60
        with pytest.raises(Invalid):
            zones.update_zone(admin, TAN_HOA, ZoneUpdate(emergency_volume=101))
