"""What the agent keeps on disk survives restarts, torn writes and corrupt files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices import protocol
from devices.intake import SeenIds
from devices.storage import AgentStore, ReceiptJournal, Saver, Snapshot, atomic_write_bytes

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def receipt(occ: str, kind: protocol.ReceiptType = "started") -> protocol.Receipt:
    return protocol.Receipt(device_id="loa-01", occurrence_id=occ, type=kind, at=NOW)


def test_journal_keeps_unacked_receipts_across_reopen_and_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "receipts.journal"
    j = ReceiptJournal(path)
    a, b, c = j.append(receipt("a")), j.append(receipt("b")), j.append(receipt("c"))
    j.ack(b)
    j.ack(b)  # a second PUBACK for the same receipt changes nothing
    j.close()
    with path.open("ab") as fh:
        fh.write(b'{"add": 9, "r": {"device_')  # power cut mid-line
    j2 = ReceiptJournal(path)
    assert [(s, r.occurrence_id) for s, r in j2.pending()] == [(a, "a"), (c, "c")]
    new = j2.append(receipt("d"))
    assert new > c
    j2.ack(a)
    j2.ack(c)
    j2.ack(new)
    assert j2.pending() == []
    j2.close()
    assert ReceiptJournal(path).pending() == []


def test_store_round_trips_envelopes_seen_ids_volume_and_done(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    timeline = b'{"v":2,"id":"env-000001","kind":"timeline"}'
    command = '{"v":2,"id":"env-000002","kind":"play","title":"Thông báo"}'.encode()
    store.save_timelines({"zone:a": timeline})
    store.save_commands({"occ-1": command})
    store.save_seen(SeenIds({"env-000001": (NOW + timedelta(hours=1), "k1")}))
    store.save_settings(
        volume=35,
        done={"recent": NOW, "ancient": NOW - timedelta(days=30)},
        now=NOW,
    )
    snap = AgentStore(tmp_path).load()
    assert snap.timelines == {"zone:a": timeline}  # the signed bytes, as received
    assert snap.commands == {"occ-1": command}
    assert "env-000001" in snap.seen
    assert snap.volume == 35
    assert set(snap.done) == {"recent"}


def test_stored_timelines_of_the_older_format_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "timelines.json").write_text('{"zone:a": {"version": 7, "body": {}}}')
    (tmp_path / "replay.json").write_text('{"env-000001": "2026-11-28T06:00:00Z"}')
    snap = AgentStore(tmp_path).load()
    assert snap.timelines == {} and len(snap.seen) == 0


def test_a_corrupt_file_is_set_aside_and_the_agent_starts_empty(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    (tmp_path / "timelines.json").write_text("{not json")
    snap = store.load()
    assert snap.timelines == {}
    assert (tmp_path / "timelines.json.corrupt").exists()


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_the_saver_writes_only_the_files_asked_from_a_fresh_snapshot(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    volumes = iter([10, 20, 30])
    saver = Saver(store, lambda: Snapshot(volume=next(volumes)), lambda: NOW)
    saver.save(settings=True)
    assert AgentStore(tmp_path).load().volume == 10
    saver.save(timelines=True)  # settings not asked: not rewritten
    assert AgentStore(tmp_path).load().volume == 10
    saver.save(settings=True, seen=True)
    assert AgentStore(tmp_path).load().volume == 30
