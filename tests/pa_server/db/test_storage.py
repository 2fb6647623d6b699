"""Storage: migrations, constraints, instants and the published-timeline ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.engine import alembic_config, upgrade
from pa_server.db.models import Announcement, Base, Device, Occurrence, Receipt, Zone
from pa_server.db.published import DbPublishedStore
from pa_server.messaging.dispatch import Published

NOW = datetime(2026, 8, 10, 5, 0, tzinfo=UTC)


def zone(path: str = "vinh-tuong", parent: str | None = None) -> Zone:
    return Zone(
        path=path,
        parent_path=parent,
        name="Vĩnh Tường",
        timezone="Asia/Ho_Chi_Minh",
        created_at=NOW,
        updated_at=NOW,
    )


def device(device_id: str = "loa-01", zone_path: str = "vinh-tuong") -> Device:
    return Device(
        id=device_id, zone_path=zone_path, credential_hash="$7$x", created_at=NOW, updated_at=NOW
    )


def announcement(status: str) -> Announcement:
    return Announcement(
        id="a1",
        title="t",
        kind="text",
        text="x",
        placeholders={},
        level="normal",
        status=status,
        author="me",
        created_at=NOW,
        updated_at=NOW,
    )


def test_migration_creates_every_table_and_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # a second start-up changes nothing
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    with engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_sqlite_runs_in_wal_with_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(device(zone_path="nowhere"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_zone_parent_must_exist(session: Session) -> None:
    session.add(zone("vinh-tuong/tan-tien", parent="vinh-tuong"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_instants_round_trip_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    hanoi = timezone(timedelta(hours=7))
    with sessions() as s:
        z = zone()
        z.created_at = datetime(2026, 8, 10, 12, 0, tzinfo=hanoi)
        s.add(z)
        s.commit()
    with sessions() as s:
        got = s.get(Zone, "vinh-tuong")
        assert got is not None
        assert got.created_at == datetime(2026, 8, 10, 5, 0, tzinfo=UTC)
        assert got.created_at.tzinfo is not None


def test_naive_instants_are_refused(session: Session) -> None:
    z = zone()
    z.created_at = datetime(2026, 8, 10, 5, 0)
    session.add(z)
    with pytest.raises(StatementError, match="naive"):
        session.commit()


def test_receipt_is_unique_per_device_occurrence_and_type(session: Session) -> None:
    session.add(zone())
    session.flush()
    session.add(device())
    session.add(announcement("approved"))
    session.flush()
    session.add(
        Occurrence(
            id="o1",
            announcement_id="a1",
            title="t",
            planned_at=NOW,
            play_at=NOW,
            targets=["zone:vinh-tuong"],
            priority=50,
            max_late_s=60,
            duration_ms=1000,
            status="planned",
            immediate=False,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.commit()
    for _ in range(2):
        session.add(
            Receipt(
                device_id="loa-01", occurrence_id="o1", type="finished", at=NOW, received_at=NOW
            )
        )
    with pytest.raises(IntegrityError):
        session.commit()


def test_bad_status_is_refused_by_the_database(session: Session) -> None:
    session.add(announcement("published"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_published_store_keeps_what_was_published(sessions: sessionmaker[Session]) -> None:
    store = DbPublishedStore(sessions)
    assert store.get("zone:vinh-tuong") is None
    store.put("zone:vinh-tuong", Published(1_700_000_000_000, "abc"))
    # The envelope comes back byte for byte (canonical JSON, non-ASCII as is).
    envelope = '{"body":{"title":"Cài đặt"},"v":2}'.encode()
    until = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    newer = Published(1_700_000_000_001, "def", envelope, until, items_cut=7)
    store.put("zone:vinh-tuong", newer)
    store.put("device:loa-01", Published(5, "x"))
    assert store.get("zone:vinh-tuong") == newer
    assert store.all() == {"zone:vinh-tuong": newer, "device:loa-01": Published(5, "x")}
    assert sorted(store.targets()) == ["device:loa-01", "zone:vinh-tuong"]
