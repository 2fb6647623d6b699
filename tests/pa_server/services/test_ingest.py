"""Batched ingest of state and receipts: each once, the latest state wins, bad ones alone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Receipt, ReceiptType, State
from pa_server.db.models import Announcement, Device, DeviceState, Occurrence, Zone
from pa_server.db.models import Receipt as ReceiptRow
from pa_server.messaging.ingest_writer import IngestWriter
from pa_server.services import ingest
from pa_server.services.ingest import Message, ingest_batch
from tests.pa_server.server_fixtures import NOW

DEVICES = ("loa-01", "loa-02", "loa-03")


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A zone with three devices and two occurrences."""
    stamps = {"created_at": NOW, "updated_at": NOW}
    with sessions() as s:
        s.execute(insert(Zone), [{"path": "x", "name": "x", "timezone": "UTC", **stamps}])
        s.execute(
            insert(Device),
            [{"id": d, "zone_path": "x", "credential_hash": "$7$x", **stamps} for d in DEVICES],
        )
        s.execute(
            insert(Announcement),
            [
                {
                    "id": "a1",
                    "title": "t",
                    "kind": "text",
                    "text": "x",
                    "placeholders": {},
                    "level": "normal",
                    "status": "approved",
                    "author": "test",
                    **stamps,
                }
            ],
        )
        s.execute(
            insert(Occurrence),
            [
                {
                    "id": occ,
                    "announcement_id": "a1",
                    "title": "t",
                    "planned_at": NOW,
                    "play_at": NOW,
                    "targets": ["zone:x"],
                    "priority": 50,
                    "max_late_s": 60,
                    "duration_ms": 1000,
                    "status": "sent",
                    "immediate": False,
                    **stamps,
                }
                for occ in ("occ-1", "occ-2")
            ],
        )
        s.commit()
    return sessions


def _receipt(device: str = "loa-01", occ: str = "occ-1", kind: ReceiptType = "fetched") -> Receipt:
    return Receipt(device_id=device, occurrence_id=occ, type=kind, at=NOW)


def _receipts(sessions: sessionmaker[Session]) -> set[tuple[str, str, str]]:
    with sessions() as s:
        rows = s.execute(select(ReceiptRow.device_id, ReceiptRow.occurrence_id, ReceiptRow.type))
        return {(r.device_id, r.occurrence_id, r.type) for r in rows}


def test_a_batch_with_duplicates_stores_each_receipt_once(seeded: sessionmaker[Session]) -> None:
    r1, r2 = _receipt(), _receipt(kind="started")
    with seeded() as s:
        assert ingest_batch(s, [r1, r1, r2, _receipt(), r2], now=NOW) == [r1, r2]
        s.commit()
    with seeded() as s:
        # A redelivery of the whole batch, plus one new: only the new one is reported (metrics).
        r3 = _receipt("loa-02")
        assert ingest_batch(s, [r2, r1, r3], now=NOW) == [r3]
        s.commit()
        assert s.scalar(select(func.count()).select_from(ReceiptRow)) == 3
    assert _receipts(seeded) == {
        ("loa-01", "occ-1", "fetched"),
        ("loa-01", "occ-1", "started"),
        ("loa-02", "occ-1", "fetched"),
    }


def test_the_latest_state_of_a_device_in_a_batch_wins(seeded: sessionmaker[Session]) -> None:
    def full(device: str, at: datetime, volume: int) -> State:
        return State(device_id=device, online=True, at=at, volume=volume)

    later = NOW + timedelta(seconds=5)
    with seeded() as s:
        ingest_batch(s, [full("loa-02", NOW, 10)], now=NOW)
        s.commit()
    batch = [
        full("loa-01", NOW, 10),
        full("loa-01", later, 20),
        full("loa-02", later, 30),
        State(device_id="loa-02", online=False),  # its LWT: keeps the last full state
        State(device_id="ghost", online=True),  # unknown device: dropped
    ]
    with seeded() as s:
        assert ingest_batch(s, batch, now=later) == []
        s.commit()
    with seeded() as s:
        rows = {r.device_id: r for r in s.scalars(select(DeviceState))}
    assert set(rows) == {"loa-01", "loa-02"}
    assert (rows["loa-01"].online, rows["loa-01"].payload["volume"]) == (True, 20)
    assert rows["loa-01"].at is not None and rows["loa-01"].at.timestamp() == later.timestamp()
    assert (rows["loa-02"].online, rows["loa-02"].payload["volume"]) == (False, 30)
    assert rows["loa-02"].payload["online"] is False
    assert rows["loa-02"].at is not None and rows["loa-02"].at.timestamp() == later.timestamp()


def _writer(
    sessions: sessionmaker[Session], stored: list[Receipt], max_batch: int = 500
) -> IngestWriter:
    def hook(receipts: Sequence[Receipt], now: datetime) -> None:
        assert now == NOW
        stored.extend(receipts)

    # A long delay keeps everything submitted before `stop()` in one batch.
    return IngestWriter(
        sessions, clock=lambda: NOW, on_stored=hook, max_delay_s=30, max_batch=max_batch
    )


def test_a_bad_message_in_a_batch_is_dropped_alone(
    seeded: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend every device exists, as if one was deleted between the check and the insert:
    # the database's foreign keys then reject its messages, failing the whole batch.
    monkeypatch.setattr(ingest, "_known", lambda _s, _c, ids: set(ids))
    bad_type = Receipt.model_construct(
        device_id="loa-03",
        occurrence_id="occ-2",
        type="exploded",  # type: ignore[arg-type]  # violates the table's CHECK on type
        at=NOW,
    )
    good = [_receipt(), _receipt("loa-02", "occ-2", "finished"), _receipt("loa-03")]
    stored: list[Receipt] = []
    writer = _writer(seeded, stored)
    writer.start()
    batch: list[Message] = [
        good[0],
        _receipt("ghost"),  # foreign key: no such device
        State(device_id="loa-03", online=True, at=NOW),
        bad_type,
        good[1],
        State(device_id="ghost", online=True, at=NOW),  # foreign key again
        good[2],
    ]
    for message in batch:
        writer.submit(message)
    writer.stop()
    assert (writer.processed, writer.failed) == (7, 3)
    assert _receipts(seeded) == {(r.device_id, r.occurrence_id, r.type) for r in good}
    assert stored == good  # the receipt-lag hook saw each stored receipt once
    with seeded() as s:
        assert s.scalars(select(DeviceState.device_id)).all() == ["loa-03"]


def test_stop_stores_everything_queued_first(seeded: sessionmaker[Session]) -> None:
    receipts = [
        _receipt(device, occ, kind)
        for device in DEVICES
        for occ in ("occ-1", "occ-2")
        for kind in ("fetched", "started", "finished")
    ]
    stored: list[Receipt] = []
    writer = _writer(seeded, stored, max_batch=4)
    writer.start()
    for receipt in receipts + receipts:
        writer.submit(receipt)
    writer.stop()
    assert writer.processed == 2 * len(receipts) and writer.failed == 0
    assert writer.batches >= len(receipts) * 2 // 4  # several batches, all committed
    assert len(_receipts(seeded)) == len(receipts)
    assert sorted(stored, key=repr) == sorted(receipts, key=repr)


def test_without_a_running_writer_a_message_is_stored_at_once(
    seeded: sessionmaker[Session],
) -> None:
    stored: list[Receipt] = []
    writer = _writer(seeded, stored)
    writer.submit(_receipt())
    writer.submit(_receipt())
    assert (writer.processed, stored) == (2, [_receipt()])
    assert _receipts(seeded) == {("loa-01", "occ-1", "fetched")}


def test_a_full_queue_holds_the_caller_instead_of_dropping(
    seeded: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    entered, release = threading.Event(), threading.Event()
    stored: list[Receipt] = []

    def slow_hook(receipts: Sequence[Receipt], now: datetime) -> None:
        stored.extend(receipts)
        entered.set()
        assert release.wait(30)

    writer = IngestWriter(seeded, clock=lambda: NOW, on_stored=slow_hook, max_batch=1, max_queued=2)
    receipts = [
        _receipt(device, kind=kind) for device in DEVICES for kind in ("fetched", "started")
    ]
    writer.start()
    writer.submit(receipts[0])
    assert entered.wait(30)  # the writer is busy: nothing leaves the queue now
    writer.submit(receipts[1])
    writer.submit(receipts[2])  # the queue is full

    def submit_the_rest() -> None:
        for receipt in receipts[3:]:
            writer.submit(receipt)

    caller = threading.Thread(target=submit_the_rest)
    with caplog.at_level(logging.WARNING, logger="pa_server.messaging.ingest_writer"):
        caller.start()
        while "ingest queue full" not in caplog.text:
            assert caller.is_alive()
            caller.join(0.01)
        assert caller.is_alive()  # held, not dropped
        release.set()
        caller.join(30)
    writer.stop()
    assert not caller.is_alive() and writer.processed == len(receipts)
    assert sorted(stored, key=repr) == sorted(receipts, key=repr)
