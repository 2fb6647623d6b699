"""What the agent keeps on disk: signed timelines and commands, seen ids, settings, receipts.

Every file is replaced atomically (write a temp file, fsync, rename), so a power cut leaves
either the old or the new content, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from devices import protocol
from devices.intake import SeenIds
from devices.protocol import Receipt

log = logging.getLogger(__name__)

#: Occurrences handled longer ago than this are forgotten (their timelines are long gone).
DONE_RETENTION = timedelta(days=3)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems refuse to open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    """`atomic_write_bytes` of a JSON document."""
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, indent=1).encode())


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when absent; a corrupt file is set aside, not fatal."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s (%s); moved aside", path, exc)
        path.replace(path.with_name(path.name + ".corrupt"))
        return None


@dataclass(slots=True)
class Snapshot:
    """Everything `AgentStore` persists besides receipts.

    Envelopes are kept as the signed bytes received, so that every start verifies them again
    against the keys configured then (a removed key revokes what it signed).
    """

    #: target → the signed timeline envelope.
    timelines: dict[str, bytes] = field(default_factory=dict)
    #: occurrence id → the signed `play` envelope of a commanded timed item not yet handled.
    commands: dict[str, bytes] = field(default_factory=dict)
    seen: SeenIds = field(default_factory=SeenIds)
    volume: int = 80
    #: occurrence id → its play_at: occurrences started, missed or given up (never re-played).
    done: dict[str, datetime] = field(default_factory=dict)
    #: Live items started and not ended: after a restart they resume while due.
    live: list[str] = field(default_factory=list)


def _envelopes(data: Any, what: str) -> dict[str, bytes]:
    """`{name: "<signed envelope JSON>"}` from disk; other shapes (v1 files) are dropped."""
    out: dict[str, bytes] = {}
    for name, raw in (data or {}).items() if isinstance(data, dict) else ():
        if isinstance(raw, str):
            out[name] = raw.encode()
        else:
            log.warning("dropping stored %s %s: not a signed envelope (older format)", what, name)
    return out


class AgentStore:
    """The agent's state folder (`[paths] state_dir`)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.media_dir = self.dir / "media"
        self.media_dir.mkdir(exist_ok=True)
        self.journal_path = self.dir / "receipts.journal"

    def load(self) -> Snapshot:
        """Read what was saved; anything unreadable is logged and starts empty.

        Nothing here is trusted yet: `Intake.restore` verifies the envelopes.
        """
        snap = Snapshot()
        snap.timelines = _envelopes(read_json(self.dir / "timelines.json"), "timeline")
        snap.commands = _envelopes(read_json(self.dir / "commands.json"), "command")
        try:
            raw = read_json(self.dir / "replay.json")
            snap.seen = SeenIds.from_json(raw if isinstance(raw, dict) else {})
        except protocol.ProtocolError as exc:
            log.warning("dropping stored replay window: %s", exc)
        settings = read_json(self.dir / "agent.json") or {}
        if isinstance(settings.get("volume"), int) and 0 <= settings["volume"] <= 100:
            snap.volume = settings["volume"]
        for occ, at in (settings.get("done") or {}).items():
            try:
                snap.done[occ] = protocol.parse_instant(at)
            except protocol.ProtocolError:
                log.warning("dropping stored done entry %s", occ)
        live = settings.get("live")
        if isinstance(live, list):
            snap.live = [occ for occ in live if isinstance(occ, str) and occ in snap.done]
        return snap

    def save_timelines(self, timelines: Mapping[str, bytes]) -> None:
        data = {t: p.decode() for t, p in timelines.items()}
        atomic_write_json(self.dir / "timelines.json", data)

    def save_commands(self, commands: Mapping[str, bytes]) -> None:
        atomic_write_json(self.dir / "commands.json", {o: p.decode() for o, p in commands.items()})

    def save_seen(self, seen: SeenIds) -> None:
        atomic_write_json(self.dir / "replay.json", seen.to_json())

    def save_settings(
        self,
        *,
        volume: int,
        done: Mapping[str, datetime],
        now: datetime,
        live: Collection[str] = (),
    ) -> None:
        kept = {o: protocol.format_instant(t) for o, t in done.items() if now - t < DONE_RETENTION}
        started = sorted(o for o in live if o in kept)
        atomic_write_json(
            self.dir / "agent.json", {"volume": volume, "done": kept, "live": started}
        )


class Saver:
    """Writes the agent's files from snapshots, so that the newest snapshot always wins.

    Snapshots are taken one at a time (`snapshot` must be quick: dict copies); the writes,
    which fsync and may take a tenth of a second on an SD card, happen outside that lock and
    skip a file already written from a newer snapshot by another thread.
    """

    def __init__(
        self, store: AgentStore, snapshot: Callable[[], Snapshot], now: Callable[[], datetime]
    ) -> None:
        self.store = store
        self._snapshot = snapshot
        self._now = now
        self._snap_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._generation = 0
        self._written: dict[str, int] = {}

    def save(
        self,
        *,
        timelines: bool = False,
        seen: bool = False,
        commands: bool = False,
        settings: bool = False,
    ) -> None:
        """Write the named files. Never call it holding a lock a start may need."""
        with self._snap_lock:
            self._generation += 1
            gen = self._generation
            snap = self._snapshot()
        wanted = {"timelines": timelines, "seen": seen, "commands": commands, "settings": settings}
        with self._write_lock:
            for name in [n for n, want in wanted.items() if want]:
                if self._written.get(name, 0) >= gen:
                    continue  # another thread wrote a newer snapshot meanwhile
                self._written[name] = gen
                if name == "timelines":
                    self.store.save_timelines(snap.timelines)
                elif name == "seen":
                    self.store.save_seen(snap.seen)
                elif name == "commands":
                    self.store.save_commands(snap.commands)
                else:
                    self.store.save_settings(
                        volume=snap.volume, done=snap.done, now=self._now(), live=snap.live
                    )


class ReceiptJournal:
    """Receipts not yet acknowledged by the broker, in an append-only fsync'd file.

    Lines are `{"add": seq, "r": receipt}` and `{"ack": seq}`; a receipt is pending from its
    `add` until its `ack`. A torn last line (power cut mid-write) is skipped on reading.
    """

    COMPACT_BYTES = 256 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: dict[int, Receipt] = {}
        self._seq = 0
        self._load()
        self._fh = self.path.open("ab")

    def _load(self) -> None:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                rec = json.loads(line)
                if "add" in rec:
                    self._pending[int(rec["add"])] = Receipt.model_validate(rec["r"])
                    self._seq = max(self._seq, int(rec["add"]))
                elif "ack" in rec:
                    self._pending.pop(int(rec["ack"]), None)
            except (ValueError, TypeError, KeyError, ValidationError):
                log.warning("skipping a damaged line in %s", self.path)

    def _write(self, obj: Mapping[str, Any]) -> None:
        self._fh.write(protocol.canonical_json(obj) + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, receipt: Receipt) -> int:
        """Store a receipt durably; returns its sequence number for `ack`."""
        with self._lock:
            self._seq += 1
            self._write({"add": self._seq, "r": receipt.to_wire()})
            self._pending[self._seq] = receipt
            return self._seq

    def ack(self, seq: int) -> None:
        """The broker has the receipt: it will not be sent again."""
        with self._lock:
            if self._pending.pop(seq, None) is None:
                return
            self._write({"ack": seq})
            if not self._pending and self._fh.tell() > self.COMPACT_BYTES:
                self._fh.close()
                atomic_write_bytes(self.path, b"")
                self._fh = self.path.open("ab")

    def pending(self) -> list[tuple[int, Receipt]]:
        """Receipts not acknowledged yet, oldest first."""
        with self._lock:
            return sorted(self._pending.items())

    def close(self) -> None:
        with self._lock:
            self._fh.close()
