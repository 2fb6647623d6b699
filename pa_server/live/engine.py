"""Live sessions on Snapcast: a stream of the pool per session, its loudspeakers assigned to it.

`LiveEngine` is the interface the services use; `SnapcastEngine` drives a real snapserver
(ours, started as a child process, or an external one on this host), `FakeLiveEngine` records
what it was asked, for tests. A session ends exactly once — stopped, finished (its `until`
passed or its source ended) or failed (its source died) — and `on_end` then hears of it,
after the loudspeakers were moved back to the silent `idle` stream and the recording stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from audio.store import MediaStore
from devices.protocol import utc_now
from pa_server.live.control import CONNECT_EVENTS, SnapcastControl, parse_control_url
from pa_server.live.errors import (
    LiveError,
    LiveUnavailable,
    NoFreeStream,
    SnapcastError,
    UnknownSession,
)
from pa_server.live.feed import BYTES_PER_S, Recorder, StreamFeed
from pa_server.live.snapserver import (
    IDLE_STREAM,
    Snapserver,
    SnapserverConfig,
    find_snapserver,
    free_port,
    private_dir,
    stream_names,
)
from pa_server.live.sources import Outcome, Source

log = logging.getLogger(__name__)

EndOutcome = Literal["finished", "failed", "stopped"]
ENGINE = "snapcast"
#: Ended sessions remembered (a second `stop_session` returns the first end).
KEEP_ENDED = 100


@dataclass(frozen=True, slots=True)
class LiveSession:
    """One live session: where agents find its sound, and who may hear it."""

    id: str
    stream: str
    host: str
    port: int
    targets: frozenset[str]
    kind: str
    title: str
    started_at: datetime
    until: datetime | None

    def live_ref(self) -> dict[str, Any]:
        """The `live` object of a PROTOCOL v2 live item."""
        return {"engine": ENGINE, "host": self.host, "port": self.port, "stream": self.stream}


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How a session ended, with its recording (proof of broadcast) when one was kept."""

    session_id: str
    outcome: EndOutcome
    detail: str | None
    ended_at: datetime
    seconds_streamed: float
    recording_sha256: str | None = None
    recording_path: Path | None = None
    recording_s: float = 0.0


OnSessionEnd = Callable[[LiveSession, SessionEnd], None]


class LiveEngine(Protocol):
    """What the services call; the only way live audio reaches a loudspeaker."""

    def start_session(
        self,
        targets: Collection[str],
        source: Source,
        *,
        title: str = "",
        until: datetime | None = None,
        on_end: OnSessionEnd | None = None,
        session_id: str | None = None,
    ) -> LiveSession:
        """Take a free stream, assign `targets` (device ids) to it, start `source`.

        `session_id` names the session (the caller's record of it); a fresh one otherwise.
        """
        ...

    def stop_session(self, session_id: str) -> SessionEnd:
        """End a session now (outcome "stopped"); UnknownSession if it is not running."""
        ...

    def sessions(self) -> list[LiveSession]: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class _Running:
    session: LiveSession
    source: Source
    feed: StreamFeed
    recorder: Recorder | None
    on_end: OnSessionEnd | None
    ended: threading.Event = field(default_factory=threading.Event)
    end: SessionEnd | None = None


class SnapcastEngine:
    """Sessions on one snapserver, reached over its loopback JSON-RPC control."""

    def __init__(
        self,
        *,
        control_host: str,
        control_port: int,
        fifo_dir: Path,
        streams: list[str],
        stream_host: str,
        stream_port: int,
        work_dir: Path,
        media_store: MediaStore | None = None,
        server: Snapserver | None = None,
        clock: Callable[[], datetime] = utc_now,
        reconcile_every_s: float = 2.0,
    ) -> None:
        self.fifo_dir = fifo_dir
        self.streams = list(streams)
        self.stream_host = stream_host
        self.stream_port = stream_port
        self.work_dir = private_dir(work_dir)
        self.media_store = media_store
        self.server = server
        self.clock = clock
        self.reconcile_every_s = reconcile_every_s
        self.control = SnapcastControl(control_host, control_port, on_event=self._on_event)
        self._lock = threading.RLock()
        self._running: dict[str, _Running] = {}
        self._free: list[str] = list(streams)  # least recently used first
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finishing: dict[str, _Running] = {}
        self._ended: dict[str, _Running] = {}
        self.last_error: str | None = None
        self.reconciles = 0

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def managed(
        cls,
        work_dir: Path,
        *,
        stream_host: str = "127.0.0.1",
        stream_bind: str = "127.0.0.1",
        stream_port: int = 0,
        streams: int = 4,
        buffer_ms: int = 1000,
        opus_bitrate: int = 64_000,
        binary: str = "snapserver",
        media_store: MediaStore | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> SnapcastEngine:
        """An engine on a snapserver of our own (started by `start()`); LiveUnavailable."""
        find_snapserver(binary)
        config = SnapserverConfig(
            workdir=private_dir(work_dir / "snapserver"),
            stream_port=stream_port or free_port(stream_bind),
            control_port=free_port(),
            streams=streams,
            stream_bind=stream_bind,
            buffer_ms=buffer_ms,
            opus_bitrate=opus_bitrate,
        )
        return cls(
            control_host="127.0.0.1",
            control_port=config.control_port,
            fifo_dir=config.fifo_dir,
            streams=stream_names(streams),
            stream_host=stream_host,
            stream_port=config.stream_port,
            work_dir=work_dir / "sessions",
            media_store=media_store,
            server=Snapserver(config, binary),
            clock=clock,
        )

    @classmethod
    def from_settings(cls, settings: Any, media_store: MediaStore | None = None) -> SnapcastEngine:
        """The engine `PA_SNAPSERVER_*` describe (not started); LiveUnavailable if none."""
        host = settings.snapserver_stream_host or urlsplit(settings.resolved_public_url).hostname
        work = settings.data_dir / "live"
        if settings.snapserver_url:
            if settings.snapserver_fifo_dir is None:
                raise LiveUnavailable(
                    "PA_SNAPSERVER_URL needs PA_SNAPSERVER_FIFO_DIR (where its pipes are)",
                    "Thiếu cấu hình PA_SNAPSERVER_FIFO_DIR cho máy chủ Snapcast bên ngoài.",
                )
            chost, cport = parse_control_url(settings.snapserver_url)
            return cls(
                control_host=chost,
                control_port=cport,
                fifo_dir=settings.snapserver_fifo_dir,
                streams=stream_names(settings.snapserver_streams),
                stream_host=host or "127.0.0.1",
                stream_port=settings.snapserver_stream_port or 1704,
                work_dir=work / "sessions",
                media_store=media_store,
            )
        return cls.managed(
            work,
            stream_host=host or "127.0.0.1",
            stream_bind=settings.snapserver_stream_bind,
            stream_port=settings.snapserver_stream_port,
            streams=settings.snapserver_streams,
            buffer_ms=settings.snapserver_buffer_ms,
            opus_bitrate=settings.snapserver_opus_bitrate,
            binary=settings.snapserver_binary,
            media_store=media_store,
        )

    def __enter__(self) -> SnapcastEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start our snapserver (if managed), connect its control, start the assigner."""
        try:
            if self.server is not None:
                self.server.start()
            self.control.connect()
            self.reconcile()
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._loop, name="live-engine", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop every session, the assigner, the control connection and our snapserver."""
        for sid in [s.id for s in self.sessions()]:
            with contextlib.suppress(LiveError):
                self.stop_session(sid)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.control.close()
        if self.server is not None:
            self.server.stop()

    # -- sessions ------------------------------------------------------------------------

    def start_session(
        self,
        targets: Collection[str],
        source: Source,
        *,
        title: str = "",
        until: datetime | None = None,
        on_end: OnSessionEnd | None = None,
        session_id: str | None = None,
    ) -> LiveSession:
        """Take a free stream, assign `targets` to it, start `source` into it."""
        if not targets:
            raise ValueError("a live session needs at least one target device")
        with self._lock:
            if not self._free:
                raise NoFreeStream(f"all {len(self.streams)} live streams are in use")
            sid = session_id or uuid.uuid4().hex
            if sid in self._running or sid in self._finishing or sid in self._ended:
                raise ValueError(f"live session {sid!r} exists already")
            stream = self._free.pop(0)
            session = LiveSession(
                id=sid,
                stream=stream,
                host=self.stream_host,
                port=self.stream_port,
                targets=frozenset(targets),
                kind=source.kind,
                title=title,
                started_at=self.clock(),
                until=until,
            )
            recorder = Recorder(self.work_dir / f"{sid}.mp3")
            feed = StreamFeed(
                self.fifo_dir / stream,
                recorder=recorder,
                drop_when_full=source.kind == "mic",
                # a relay may sit on a full 64 KiB pipe (latency does not matter, gaps do)
                pipe_bytes=16_384 if source.kind == "mic" else None,
                # a microphone's latency stays bounded: at most 200 ms wait in the queue
                # (then the oldest is dropped) and 85 ms in the pipe
                queue_s=0.2 if source.kind == "mic" else 1.0,
            )
            run = _Running(session, source, feed, recorder, on_end)
            self._running[sid] = run
        log.info(
            "live session %s (%s) on %s for %d device(s)", sid, source.describe(), stream,
            len(session.targets),
        )  # fmt: skip
        self._assign_now()
        self._wake.set()  # the loop recomputes its wait for this session's `until`

        def source_ended(outcome: Outcome, detail: str | None) -> None:
            self._finish(sid, outcome, detail)

        try:
            source.start(feed, source_ended)
        except BaseException as exc:
            self._finish(sid, "failed", f"source would not start: {exc}")
            raise
        return session

    def stop_session(self, session_id: str) -> SessionEnd:
        """End a session now (outcome "stopped"); a session already ended keeps its end."""
        end = self._finish(session_id, "stopped", None)
        if end is None:
            raise UnknownSession(f"no live session {session_id!r}")
        return end

    def wait_ended(self, session_id: str, timeout: float | None = None) -> SessionEnd | None:
        """Wait for a session to end; its SessionEnd, or None on timeout/unknown."""
        with self._lock:
            run = (
                self._running.get(session_id)
                or self._finishing.get(session_id)
                or self._ended.get(session_id)
            )
        if run is None:
            return None
        run.ended.wait(timeout)
        return run.end

    def sessions(self) -> list[LiveSession]:
        with self._lock:
            return [r.session for r in self._running.values() if r.end is None]

    def streamed_s(self, session_id: str) -> float:
        """Seconds of audio written into the session's stream so far."""
        with self._lock:
            run = (
                self._running.get(session_id)
                or self._finishing.get(session_id)
                or self._ended.get(session_id)
            )
        if run is None:
            raise UnknownSession(f"no live session {session_id!r}")
        return run.feed.bytes_written / BYTES_PER_S

    def health(self) -> dict[str, Any]:
        """For the status page: server up, control connected, sessions, connected clients."""
        clients: list[str] = []
        ok = self.control.connected
        if ok:
            try:
                clients = sorted(self.control.status().connected)
            except SnapcastError as exc:
                ok, self.last_error = False, str(exc)
        return {
            "engine": ENGINE,
            "ok": ok and (self.server is None or self.server.running),
            "managed": self.server is not None,
            "stream": f"{self.stream_host}:{self.stream_port}",
            "streams_free": len(self._free),
            "sessions": len(self.sessions()),
            "clients_connected": clients,
            "last_error": self.last_error,
        }

    def _finish(self, sid: str, outcome: EndOutcome, detail: str | None) -> SessionEnd | None:
        with self._lock:
            done = self._ended.get(sid)
            if done is not None:
                return done.end
            ending = self._finishing.get(sid)
            run = self._running.pop(sid, None)
            if run is not None:
                self._finishing[sid] = run
        if ending is not None:  # another thread is ending it: wait for its result
            ending.ended.wait(30)
            return ending.end
        if run is None:
            return None
        # Silence first: the loudspeakers go back to `idle` before anything else happens.
        self._assign_now()
        run.source.stop()
        run.feed.close()
        seconds = run.feed.bytes_written / BYTES_PER_S
        if run.feed.error and outcome != "failed":
            outcome, detail = "failed", run.feed.error
        sha: str | None = None
        path: Path | None = None
        rec_s = 0.0
        if run.recorder is not None:
            path = run.recorder.close()
            rec_s = run.recorder.duration_s
            sha, path = self._store_recording(run, path, outcome)
        end = SessionEnd(sid, outcome, detail, self.clock(), seconds, sha, path, rec_s)
        run.end = end
        with self._lock:
            self._finishing.pop(sid, None)
            self._ended[sid] = run
            while len(self._ended) > KEEP_ENDED:  # oldest first (dicts keep insertion order)
                del self._ended[next(iter(self._ended))]
            self._free.append(run.session.stream)  # to the back: least recently used first
        run.ended.set()
        log.info("live session %s ended: %s %s", sid, outcome, detail or "")
        if run.on_end is not None:
            try:
                run.on_end(run.session, end)
            except Exception:
                log.exception("live session %s: on_end callback failed", sid)
        return end

    def _store_recording(
        self, run: _Running, path: Path, outcome: EndOutcome
    ) -> tuple[str | None, Path | None]:
        if self.media_store is None or run.recorder is None or run.recorder.frames == 0:
            return None, path
        s = run.session
        meta = {
            "kind": "live-recording",
            "session": s.id,
            "source": run.source.describe(),
            "title": s.title,
            "targets": sorted(s.targets),
            "started_at": s.started_at.isoformat(),
            "ended_at": self.clock().isoformat(),
            "outcome": outcome,
            "duration_s": round(run.recorder.duration_s, 3),
        }
        try:
            sha = self.media_store.put(path.read_bytes(), "mp3", meta)
        except OSError as exc:
            log.error("live session %s: recording not stored: %s", s.id, exc)
            return None, path
        path.unlink(missing_ok=True)
        return sha, self.media_store.path(sha, "mp3")

    # -- assignment ----------------------------------------------------------------------

    def desired(self) -> dict[str, str]:
        """Client id → the stream it must play (absent: `idle`)."""
        with self._lock:
            return {t: r.session.stream for r in self._running.values() for t in r.session.targets}

    def reconcile(self) -> None:
        """Make every group play what its clients must play (`idle` unless a target)."""
        for _ in range(4):
            if not self._reconcile_pass():
                break
        self.reconciles += 1

    def _reconcile_pass(self) -> bool:
        want = self.desired()
        status = self.control.status()
        split = False
        for g in status.groups:
            wants = {want.get(c, IDLE_STREAM) for c in g.client_ids}
            if len(wants) == 1:
                target = wants.pop()
                if g.stream_id != target:
                    self.control.set_group_stream(g.id, target)
                continue
            # Clients that must hear different things share a group (an external server's
            # saved layout): silence the group, then split it, then look again.
            if g.stream_id != IDLE_STREAM:
                self.control.set_group_stream(g.id, IDLE_STREAM)
            self.control.set_group_clients(g.id, [g.client_ids[0]])
            split = True
        return split

    def _assign_now(self) -> None:
        try:
            with self._lock:
                self.reconcile()
        except SnapcastError as exc:
            self.last_error = str(exc)
            log.error("live: could not assign loudspeakers: %s", exc)
            self._wake.set()

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        # Called on the control's reader thread: only wake the assigner (calling back into
        # the control from here would wait on the very thread that reads the answer).
        if method in CONNECT_EVENTS:
            self._wake.set()

    def _next_wait(self) -> float:
        # wake at the earliest `until`, so a session ends on time, not up to a period late
        now = self.clock()
        with self._lock:
            untils = [r.session.until for r in self._running.values() if r.session.until]
        soonest = min(((u - now).total_seconds() for u in untils), default=None)
        if soonest is None:
            return self.reconcile_every_s
        return max(0.0, min(self.reconcile_every_s, soonest))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._next_wait())
            self._wake.clear()
            if self._stop.is_set():
                return
            self._end_expired()
            try:
                if not self.control.connected:
                    self._reconnect()
                self._assign_now()
            except LiveError as exc:
                self.last_error = str(exc)
                log.warning("live engine: %s", exc)

    def _end_expired(self) -> None:
        now = self.clock()
        with self._lock:
            expired = [
                sid
                for sid, r in self._running.items()
                if r.session.until is not None and r.session.until <= now
            ]
        for sid in expired:
            threading.Thread(
                target=self._finish, args=(sid, "finished", "until reached"), daemon=True
            ).start()

    def _reconnect(self) -> None:
        self.control.close()
        if self.server is not None and not self.server.running:
            log.error("snapserver died (%s): restarting it", self.server.log_tail(2))
            self.server.start()
        self.control.connect()


@dataclass
class FakeSession:
    """What `FakeLiveEngine` holds for one session (tests read `pcm`)."""

    session: LiveSession
    source: Source
    on_end: OnSessionEnd | None
    pcm: bytearray = field(default_factory=bytearray)
    end: SessionEnd | None = None

    def write(self, pcm: bytes) -> None:
        self.pcm.extend(pcm)


class FakeLiveEngine:
    """A `LiveEngine` without Snapcast: sessions, their PCM and their ends, in memory."""

    def __init__(
        self,
        *,
        streams: int = 4,
        host: str = "127.0.0.1",
        port: int = 1704,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.host, self.port, self.clock = host, port, clock
        self.free = stream_names(streams)
        self.all: dict[str, FakeSession] = {}

    def start_session(
        self,
        targets: Collection[str],
        source: Source,
        *,
        title: str = "",
        until: datetime | None = None,
        on_end: OnSessionEnd | None = None,
        session_id: str | None = None,
    ) -> LiveSession:
        if not targets:
            raise ValueError("a live session needs at least one target device")
        if not self.free:
            raise NoFreeStream("all fake streams are in use")
        stream = self.free.pop(0)
        sid = session_id or uuid.uuid4().hex
        session = LiveSession(
            sid, stream, self.host, self.port, frozenset(targets), source.kind, title,
            self.clock(), until,
        )  # fmt: skip
        fake = FakeSession(session, source, on_end)
        self.all[sid] = fake

        def ended(outcome: Outcome, detail: str | None) -> None:
            self.end(sid, outcome, detail)

        source.start(fake, ended)
        return session

    def end(self, sid: str, outcome: EndOutcome, detail: str | None = None) -> SessionEnd:
        """End a session as the real engine would (tests call it to play a dead source)."""
        fake = self.all.get(sid)
        if fake is None:
            raise UnknownSession(f"no live session {sid!r}")
        if fake.end is not None:
            return fake.end
        fake.source.stop()
        fake.end = SessionEnd(sid, outcome, detail, self.clock(), len(fake.pcm) / BYTES_PER_S)
        self.free.append(fake.session.stream)
        if fake.on_end is not None:
            fake.on_end(fake.session, fake.end)
        return fake.end

    def stop_session(self, session_id: str) -> SessionEnd:
        fake = self.all.get(session_id)
        if fake is None or fake.end is not None:
            raise UnknownSession(f"no live session {session_id!r}")
        return self.end(session_id, "stopped")

    def sessions(self) -> list[LiveSession]:
        return [f.session for f in self.all.values() if f.end is None]

    def assigned(self) -> dict[str, str]:
        """Device id → stream, as the real engine would assign them."""
        return {t: f.session.stream for f in self.all.values() if f.end is None
                for t in f.session.targets}  # fmt: skip

    def health(self) -> dict[str, Any]:
        return {"engine": "fake", "ok": True, "sessions": len(self.sessions())}

    def close(self) -> None:
        for s in self.sessions():
            self.stop_session(s.id)
