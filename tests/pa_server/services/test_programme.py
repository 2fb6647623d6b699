"""The programme, the live counts, proof of broadcast and searching lists (SQLite + PostgreSQL)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.models import Announcement, DeviceState, Receipt
from pa_server.schemas.announcements import AnnouncementCreate
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.zones import ZoneCreate
from pa_server.services import announcements, broadcasts, devices, overview, programme, reports
from pa_server.services import zones as zone_service
from pa_server.services.context import UseCase
from pa_server.services.programme import DeviceTally, broadcast_state, tally_states
from pa_server.services.timelines import replan
from tests.pa_server.server_fixtures import (
    NOW,
    TEST_APPROVER,
    FakeDispatcher,
    FakeRenderer,
    use_case,
)
from tests.pa_server.services.support import HORIZON, seed

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE = "vinh-tuong/tan-tien"


def _world(s: Session, tmp_path: Path) -> UseCase:
    renderer = FakeRenderer(tmp_path / "media")
    seed(s, renderer)
    uc = use_case(s, data_dir=tmp_path, dispatcher=FakeDispatcher(), renderer=renderer)
    zone_service.create_zone(uc, ZoneCreate(path="vinh-tuong/vinh-thinh", name="Vĩnh Thịnh"))
    devices.create_device(uc, DeviceCreate(id="loa-02", zone=COMMUNE, name="Thôn Đông"))
    devices.create_device(uc, DeviceCreate(id="loa-vt", zone="vinh-tuong/vinh-thinh"))
    replan(s, now=NOW, horizon=HORIZON)
    s.commit()
    return uc


def _week(s: Session, place: programme.Place) -> list[programme.ProgrammeEntry]:
    start = datetime(2026, 8, 10, tzinfo=TZ)
    return programme.programme(s, place, start=start, end=start + timedelta(days=7), now=NOW)


def _receipt(
    s: Session, occ_id: str, device: str, kind: str, at: datetime, **extra: object
) -> None:
    s.add(
        Receipt(device_id=device, occurrence_id=occ_id, type=kind, at=at, received_at=at, **extra)
    )
    s.flush()


def test_week_of_a_zone_uses_stored_and_planned_occurrences_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        _world(s, tmp_path)
        week = _week(s, programme.place_of(s, zone=COMMUNE))
        # Daily at 06:00 and 17:00 for seven days; the first two days were stored by the
        # planner, the rest come from the planner now, never twice.
        assert len(week) == 14 == len({e.id for e in week})
        stored = [e for e in week if e.stored]
        assert len(stored) == 4
        assert [e.play_at.astimezone(TZ).strftime("%d %H:%M") for e in week[:3]] == [
            "10 06:00",
            "10 17:00",
            "11 06:00",
        ]
        assert {e.state for e in week} == {"waiting"}
        assert {e.level for e in week} == {"normal"}
        assert all(e.tally.expected == 2 for e in week)  # loa-01 and loa-02
        # The whole district holds the commune; the neighbouring commune hears none of it.
        assert len(_week(s, programme.place_of(s, zone="vinh-tuong"))) == 14
        assert _week(s, programme.place_of(s, zone="vinh-tuong/vinh-thinh")) == []
        # One loudspeaker: its zone's broadcasts, and only itself counted.
        mine = _week(s, programme.place_of(s, device="loa-02"))
        assert len(mine) == 14 and all(e.tally.expected == 1 for e in mine)
        assert _week(s, programme.place_of(s, device="loa-vt")) == []


def test_a_broadcast_to_one_loudspeaker_is_in_its_programme_only(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        uc = _world(s, tmp_path)
        ann_id = s.query(Announcement.id).scalar()
        occ = broadcasts.put_on_air(uc, BroadcastCreate(announcement_id=ann_id, devices=["loa-vt"]))
        ids = {e.id for e in _week(s, programme.place_of(s, device="loa-vt"))}
        assert ids == {occ.id}
        assert occ.id not in {e.id for e in _week(s, programme.place_of(s, device="loa-01"))}
        assert occ.id in {e.id for e in _week(s, programme.place_of(s, zone="vinh-tuong"))}


def test_unknown_places_are_not_found(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    from pa_server.services.errors import Invalid, NotFound

    with sessions() as s:
        _world(s, tmp_path)
        with pytest.raises(NotFound):
            programme.place_of(s, device="khong-co")
        with pytest.raises(Invalid):
            programme.place_of(s, zone="khong-co")


def _emergency(uc: UseCase) -> str:
    occ = broadcasts.sound_emergency(
        uc, title="Khẩn cấp: lũ quét", text="Bà con sơ tán ngay.", zones=[COMMUNE], confirmed=True
    )
    return occ.id


def test_live_counts_follow_the_receipts(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as s:
        uc = _world(s, tmp_path)
        occ_id = _emergency(uc)
        s.add(DeviceState(device_id="loa-01", online=True, at=NOW, received_at=NOW, payload={}))
        s.add(DeviceState(device_id="loa-02", online=False, at=NOW, received_at=NOW, payload={}))
        s.flush()
        c = programme.loudspeaker_counts(s, occ_id, now=NOW)
        assert (c.targeted, c.online, c.offline, c.never, c.reached) == (2, 1, 1, 0, 0)
        assert c.state == "waiting"  # the common start instant lies a few seconds ahead
        start = NOW + timedelta(seconds=5)
        _receipt(s, occ_id, "loa-01", "fetched", start - timedelta(seconds=2))
        _receipt(s, occ_id, "loa-01", "started", start, late_ms=120)
        c = programme.loudspeaker_counts(s, occ_id, now=start)
        assert (c.reached, c.tally.playing, c.state) == (1, 1, "playing")
        _receipt(s, occ_id, "loa-02", "started", start)
        done = start + timedelta(minutes=5)
        for device in ("loa-01", "loa-02"):
            _receipt(s, occ_id, device, "finished", done)
        c = programme.loudspeaker_counts(s, occ_id, now=done)
        # Both finished: nobody is still "playing" and the broadcast has played.
        assert (c.reached, c.tally.finished, c.tally.playing, c.state) == (2, 2, 0, "played")
        assert programme.delivery_tallies(s, [occ_id])[occ_id] == c.tally


def test_broadcast_state_never_contradicts_the_tally() -> None:
    at = NOW
    base = {"status": "sent", "play_at": at, "duration_ms": 60_000, "max_late_s": 300}
    finished = tally_states({"a": "finished", "b": "finished"}, ["a", "b"])
    assert broadcast_state(**base, tally=finished, now=at + timedelta(seconds=20)) == "played"
    one_playing = tally_states({"a": "finished", "b": "started"}, ["a", "b"])
    assert broadcast_state(**base, tally=one_playing, now=at + timedelta(hours=1)) == "playing"
    silent = tally_states({}, ["a"])
    assert broadcast_state(**base, tally=silent, now=at - timedelta(seconds=1)) == "waiting"
    assert broadcast_state(**base, tally=silent, now=at + timedelta(seconds=10)) == "playing"
    assert broadcast_state(**base, tally=silent, now=at + timedelta(hours=1)) == "failed"
    failed = tally_states({"a": "failed"}, ["a"])
    assert broadcast_state(**base, tally=failed, now=at + timedelta(seconds=10)) == "failed"
    stopped = {**base, "status": "stopped"}
    assert broadcast_state(**stopped, tally=one_playing, now=at) == "stopped"
    # Dropped by the planner before its time: not "chờ phát", which it will never leave.
    cancelled = {**base, "status": "cancelled"}
    assert broadcast_state(**cancelled, tally=silent, now=at - timedelta(minutes=5)) == "cancelled"
    assert broadcast_state(**base, tally=DeviceTally(), now=at) == "no_devices"
    # A loudspeaker that failed before starting does not hide one still playing.
    mixed = tally_states({"a": "started", "b": "failed"}, ["a", "b"])
    assert (mixed.playing, mixed.failed, mixed.silent) == (1, 1, 0)


def test_proof_of_broadcast_with_lateness_and_spreadsheet(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        uc = _world(s, tmp_path)
        occ_id = _emergency(uc)
        occ = broadcasts.get_occurrence(s, occ_id)
        _receipt(s, occ_id, "loa-01", "fetched", occ.play_at - timedelta(seconds=2))
        _receipt(s, occ_id, "loa-01", "started", occ.play_at + timedelta(seconds=1), late_ms=1500)
        _receipt(s, occ_id, "loa-01", "finished", occ.play_at + timedelta(seconds=40))
        _receipt(s, occ_id, "loa-02", "started", occ.play_at + timedelta(seconds=3))
        _receipt(s, occ_id, "loa-02", "failed", occ.play_at + timedelta(seconds=4), detail="alsa")
        proof = reports.broadcast_proof(s, occ_id)
        rows = {r.device_id: r for r in proof.rows}
        assert set(rows) == {"loa-01", "loa-02"}
        assert (rows["loa-01"].state, rows["loa-01"].late_ms) == ("finished", 1500)
        # No figure from the agent: lateness is started minus planned.
        assert (rows["loa-02"].state, rows["loa-02"].late_ms) == ("failed", 3000)
        assert rows["loa-02"].zone_name == "Tân Tiến"
        body = reports.proof_csv(
            proof, tz="Asia/Ho_Chi_Minh", state_labels={"finished": "Đã phát xong"}, notes=str
        )
        assert body.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert table[0] == list(reports.PROOF_CSV_HEADERS)
        first = dict(zip(table[0], table[1], strict=True))
        assert first["Mã loa"] == "loa-01" and first["Trễ (giây)"] == "1,5"
        assert first["Kết quả"] == "Đã phát xong"
        assert first["Giờ dự kiến"] == occ.play_at.astimezone(TZ).strftime("%d/%m/%Y %H:%M:%S")


def test_search_broadcasts_in_sql(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as s:
        uc = _world(s, tmp_path)
        _emergency(uc)
        ann_id = s.query(Announcement.id).filter(Announcement.title == "Bluezone").scalar()
        broadcasts.put_on_air(uc, BroadcastCreate(announcement_id=ann_id, devices=["loa-vt"]))

        def found(q: str) -> list[str]:
            rows, total = broadcasts.list_broadcasts(
                s, start=None, end=None, limit=50, offset=0, search=q
            )
            assert total == len(rows)
            return sorted(r.title for r in rows if r.immediate)

        assert found("lũ quét") == ["Khẩn cấp: lũ quét"]
        assert found("Tân Tiến") == ["Khẩn cấp: lũ quét"]  # by zone name
        assert found("loa-vt") == ["Bluezone"]  # by loudspeaker id
        assert found("system") == ["Bluezone", "Khẩn cấp: lũ quét"]  # by who sent it
        assert found("100%") == [] and found("_") == []  # wildcards are literal
        _, total = broadcasts.list_broadcasts(s, start=None, end=None, limit=1, offset=0)
        assert total > 1  # the total counts every row, not the page


def test_pending_approvals_counts_what_this_person_may_approve(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        uc = _world(s, tmp_path)
        for title in ("Họp thôn", "Tiêm chủng"):
            announcements.create_announcement(uc, AnnouncementCreate(title=title, text="Mời."))
        s.flush()
        assert overview.pending_approvals(s, TEST_APPROVER) == 2
        assert overview.pending_approvals(s, uc.actor) == 0  # their own drafts
        operator = replace(TEST_APPROVER, role=type(TEST_APPROVER.role)("operator"))
        assert overview.pending_approvals(s, operator) == 0


def test_search_every_list_in_sql(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    from pa_server.auth import audit
    from pa_server.services import schedules
    from pa_server.services import search as search_in

    with sessions() as s:
        uc = _world(s, tmp_path)
        _emergency(uc)
        s.commit()

        def titles(q: str) -> list[str]:
            rows, total = announcements.list_announcements(
                s, status=None, limit=50, offset=0, search=q
            )
            assert total == len(rows)
            return sorted(a.title for a in rows)

        assert titles("lũ") == ["Khẩn cấp: lũ quét"]
        assert titles("sơ tán") == ["Khẩn cấp: lũ quét"]  # in the text
        assert titles("duyet") == ["Bluezone"]  # who approved it
        assert titles("không có") == []

        def schedule_titles(q: str) -> int:
            return schedules.list_schedules(s, announcement_id=None, limit=50, offset=0, search=q)[
                1
            ]

        assert schedule_titles("Tân Tiến") == 1  # by the zone it plays on
        assert schedule_titles("Bluezone") == 1  # by its announcement's title
        assert schedule_titles("Vĩnh Thịnh") == 0

        def device_ids(q: str) -> list[str]:
            rows, total = devices.list_devices(s, limit=50, offset=0, search=q)
            assert total == len(rows)
            return [d.id for d in rows]

        assert device_ids("Thôn Đông") == ["loa-02"]
        assert device_ids("Vĩnh Thịnh") == ["loa-vt"]  # by its zone's name
        assert device_ids("loa-0") == ["loa-01", "loa-02"]
        assert devices.link_counts(s, search="loa-0") == {"online": 0, "offline": 0, "never": 2}

        where = search_in.audit_match(s, "lũ quét")
        found = audit.entries(s, where=where, limit=50)
        assert found and audit.count(s, where=where) == len(found)
        assert audit.count(s, where=search_in.audit_match(s, "không có gì")) == 0
        assert audit.count(s, where=search_in.audit_match(s, "loa-vt")) >= 1
