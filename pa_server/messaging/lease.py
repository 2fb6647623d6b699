"""Exactly one dispatcher at a time across `pa-server` replicas: a database-held lease.

On PostgreSQL the lease is a session-level advisory lock (`pg_try_advisory_lock`) held on a
dedicated connection. PostgreSQL releases it when that connection ends, so a replica that is
SIGKILLed, or whose machine dies, loses the lease as soon as its connection is noticed dead:
at once when the kernel closes the socket (a killed process), within the TCP keepalive and
`tcp_user_timeout` bounds set below on both ends of the connection (a dead machine or a cut
network). The holder checks its connection on every `is_held()`, so a replica that lost the
database stops believing it dispatches within the same bounds.

On SQLite (one machine) the lease is an exclusive `flock` on a lock file beside the database,
so two servers started on one data directory do not both dispatch.

Errors: `LeaseError` (base) → `LeaseUnsupported` (a database this module cannot lease on).
Database failures while acquiring or checking are not errors: they mean "not leader".
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "pa-server dispatcher"
DEFAULT_POLL_INTERVAL_S = 5.0

# Bounds on noticing a dead peer. The client side lets a holder learn it lost the database;
# the server side (session GUCs sent in `options`) lets PostgreSQL drop a dead holder's
# session, and with it the lock, when its machine vanished without closing the socket.
# Budget: a silent peer is declared dead after idle + interval × count = 9 s; with the 5 s
# poll, a standby takes over a vanished machine's lease within about 14 s (issue 6: 15 s).
KEEPALIVE_IDLE_S = 3
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_MS = 9_000
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 5_000


class LeaseError(Exception):
    """Base of this module's errors."""


class LeaseUnsupported(LeaseError):
    """The database URL names a backend the lease cannot run on."""


def lock_key(name: str) -> int:
    """A constant signed 64-bit advisory-lock key derived from `name`."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class DispatchLease:
    """The right to dispatch: `try_acquire()`, check with `is_held()`, give up with `release()`.

    Use as a context manager to release on exit. Thread-safe: the leader loop and the
    dispatcher may both call it.
    """

    def __init__(
        self,
        database_url: str,
        *,
        name: str = DEFAULT_LEASE_NAME,
        lock_path: Path | None = None,
    ) -> None:
        url = make_url(database_url)
        self.name = name
        self._mutex = threading.Lock()
        self._backend: _Backend
        if url.get_backend_name() == "postgresql":
            self._backend = _PgBackend(database_url, lock_key(name))
        elif url.get_backend_name() == "sqlite":
            path = lock_path or _sqlite_lock_path(url.database)
            self._backend = _FlockBackend(path) if path is not None else _ProcessBackend()
        else:
            raise LeaseUnsupported(
                f"cannot hold a dispatch lease on {url.get_backend_name()!r}: "
                "use PostgreSQL (several replicas) or SQLite (one machine)"
            )

    def __enter__(self) -> DispatchLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def holder(self) -> str | None:
        """Who else held the lease at the last refused `try_acquire()`, in words; else None."""
        return self._backend.refusal

    def try_acquire(self) -> bool:
        """Take the lease if free (True), or confirm we still hold it; never blocks on it."""
        with self._mutex:
            if self._backend.held and self._backend.check():
                return True
            return self._backend.acquire()

    def is_held(self) -> bool:
        """True only if we hold the lease and its connection/file is verified alive now."""
        with self._mutex:
            return self._backend.held and self._backend.check()

    def release(self) -> None:
        """Give the lease up (no-op if not held)."""
        with self._mutex:
            self._backend.release()

    def close(self) -> None:
        """Release and free every resource (the engine's pool included)."""
        with self._mutex:
            self._backend.release()
            self._backend.dispose()


class _Backend:
    """One way of holding the lease; callers hold `DispatchLease._mutex`."""

    held = False
    refusal: str | None = None

    def acquire(self) -> bool:
        raise NotImplementedError

    def check(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def dispose(self) -> None:
        """Free what `release()` keeps for the next acquire."""


class _PgBackend(_Backend):
    """Session-level advisory lock on a dedicated, keepalive-watched PostgreSQL connection."""

    def __init__(self, database_url: str, key: int) -> None:
        self.key = key
        self._conn: Connection | None = None
        # NullPool: the lock lives and dies with exactly one connection; a pool must never
        # hand it to someone else or keep it after we let go.
        self._engine: Engine = create_engine(
            database_url,
            poolclass=NullPool,
            connect_args=_pg_connect_args(),
            isolation_level="AUTOCOMMIT",
        )

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def acquire(self) -> bool:
        self._drop()
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            self.refusal = None
            log.warning("dispatch lease: cannot reach %s: %s", self.url, _first_line(exc))
            return False
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
            if not got:
                self.refusal = self._describe_holder(conn)
        except SQLAlchemyError as exc:
            log.warning("dispatch lease: acquire failed on %s: %s", self.url, _first_line(exc))
            conn.invalidate()
            got = False
        if not got:
            _close_quietly(conn)
            return False
        self._conn = conn
        self.held = True
        self.refusal = None
        return True

    def check(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # Not just `SELECT 1`: prove this very session still owns the lock.
            still = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND granted"
                    " AND classid = CAST(:hi AS bigint)::oid AND objid = CAST(:lo AS bigint)::oid"
                    " AND objsubid = 1"
                ),
                _split_key(self.key),
            ).scalar()
        except SQLAlchemyError as exc:
            log.error(
                "dispatch lease lost: connection to %s failed: %s", self.url, _first_line(exc)
            )
            self._drop(dead=True)
            return False
        if not still:
            log.error("dispatch lease lost: %s no longer shows our advisory lock", self.url)
            self._drop()
            return False
        return True

    def release(self) -> None:
        conn = self._conn
        if conn is not None and self.held:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except SQLAlchemyError as exc:
                # Closing the connection below releases it anyway.
                log.debug("dispatch lease: unlock failed: %s", _first_line(exc))
        self._drop()

    def dispose(self) -> None:
        self._engine.dispose()

    def _drop(self, *, dead: bool = False) -> None:
        self.held = False
        if self._conn is not None:
            if dead:
                self._conn.invalidate()  # no goodbye over a broken socket
            _close_quietly(self._conn)
            self._conn = None

    def _describe_holder(self, conn: Connection) -> str:
        hi_lo = _split_key(self.key)
        row = conn.execute(
            text(
                "SELECT a.pid, a.client_addr, a.application_name, a.backend_start"
                " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.classid = CAST(:hi AS bigint)::oid AND l.objid = CAST(:lo AS bigint)::oid"
                " AND l.objsubid = 1"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            hi_lo,
        ).first()
        if row is None:
            return f"another session on {self.url} holds the dispatch lease"
        pid, addr, app, since = row
        return (
            f"another session holds the dispatch lease on {self.url} "
            f"(backend pid {pid}, client {addr or 'local socket'}, {app or 'no name'}, "
            f"since {since})"
        )


class _FlockBackend(_Backend):
    """Exclusive `flock` on a file beside the SQLite database; the kernel frees it on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    def acquire(self) -> bool:
        self.release()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self.refusal = f"cannot open lock file {self.path}: {exc.strerror}"
            log.error("dispatch lease: %s", self.refusal)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.refusal = self._describe_holder(fd)
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            self.refusal = f"cannot lock {self.path}: {exc.strerror}"
            log.error("dispatch lease: %s", self.refusal)
            return False
        # Who holds it, for the message another server prints; not used for locking.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        st = os.fstat(fd)
        self._fd, self._inode = fd, (st.st_dev, st.st_ino)
        self.held = True
        self.refusal = None
        return True

    def check(self) -> bool:
        if self._fd is None:
            return False
        # If someone deleted or replaced the file, a newcomer can lock the new one: ours is void.
        try:
            st = self.path.stat()
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._inode:
            log.error("dispatch lease lost: lock file %s was removed or replaced", self.path)
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        self.held = False

    def _describe_holder(self, fd: int) -> str:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        who = f"process {pid}" if pid.isdigit() else "another process"
        return (
            f"{who} holds the dispatch lock {self.path}: another pa-server runs on this data "
            "directory, so this one will not dispatch (use PostgreSQL for several replicas)"
        )


class _ProcessBackend(_Backend):
    """In-memory SQLite: no other process can share the database, so the lease is ours."""

    def acquire(self) -> bool:
        self.held = True
        return True

    def check(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False


class LeaderLoop:
    """Polls a lease every `interval_s` and calls `on_elected` / `on_lost` on every change.

    `step()` is one poll (tests drive it directly); `start()` runs it on a thread until
    `stop()`, which also releases the lease. Callbacks run on the loop's thread; one that
    raises is logged, and a failed `on_elected` gives the lease up so another replica can
    take over instead of a leader that does not dispatch.
    """

    def __init__(
        self,
        lease: DispatchLease,
        *,
        on_elected: Callable[[], None],
        on_lost: Callable[[], None],
        interval_s: float = DEFAULT_POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        self.lease = lease
        self.interval_s = interval_s
        self._on_elected = on_elected
        self._on_lost = on_lost
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._thread: threading.Thread | None = None
        self._leader = False
        self._last_refusal: str | None = None

    @property
    def is_leader(self) -> bool:
        """Whether the last poll found us holding the lease."""
        return self._leader

    def step(self) -> bool:
        """One poll: check or try the lease, fire callbacks on a change; returns `is_leader`."""
        if self._leader:
            if not self.lease.is_held():
                self._leader = False
                log.warning("no longer the dispatcher (%s)", self.lease.name)
                self._call(self._on_lost, "on_lost")
            return self._leader
        if self.lease.try_acquire():
            self._leader = True
            self._last_refusal = None
            log.info("elected dispatcher (%s)", self.lease.name)
            if not self._call(self._on_elected, "on_elected"):
                self._leader = False
                self.lease.release()
        elif self.lease.holder != self._last_refusal:
            self._last_refusal = self.lease.holder
            if self._last_refusal:
                log.info("standing by: %s", self._last_refusal)
        return self._leader

    def run(self) -> None:
        """Poll on a fixed cadence until `stop()`; the first poll is immediate."""
        next_due = self._clock()
        while not self._stop.is_set():
            self.step()
            next_due += self.interval_s
            now = self._clock()
            if next_due < now:  # a slow poll: skip missed beats rather than burst
                next_due = now
            self._sleep(next_due - now)

    def start(self) -> None:
        """Run the loop on a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="pa-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; if leader, call `on_lost` first, then release the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 30)
            self._thread = None
        if self._leader:
            self._leader = False
            self._call(self._on_lost, "on_lost")
        self.lease.release()

    def _call(self, callback: Callable[[], None], what: str) -> bool:
        try:
            callback()
        except Exception:
            log.exception("leader loop: %s raised", what)
            return False
        return True


def _pg_connect_args() -> dict[str, Any]:
    server_side = {
        "tcp_keepalives_idle": KEEPALIVE_IDLE_S,
        "tcp_keepalives_interval": KEEPALIVE_INTERVAL_S,
        "tcp_keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "statement_timeout": STATEMENT_TIMEOUT_MS,
    }
    return {
        "application_name": f"pa-server lease pid {os.getpid()}",
        "connect_timeout": CONNECT_TIMEOUT_S,
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE_S,
        "keepalives_interval": KEEPALIVE_INTERVAL_S,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "options": " ".join(f"-c {k}={v}" for k, v in server_side.items()),
    }


def _split_key(key: int) -> dict[str, int]:
    """The (classid, objid) pair pg_locks shows for a bigint advisory key."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}


def _sqlite_lock_path(database: str | None) -> Path | None:
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    db = Path(database)
    return db.with_name(db.name + ".dispatch-lock")


def _close_quietly(conn: Connection) -> None:
    try:
        conn.close()
    except SQLAlchemyError as exc:
        log.debug("dispatch lease: close failed: %s", _first_line(exc))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
