"""The audit log: every change to the store, with who, what, when, before and after.

Changes are caught in one place — after each flush of a session made by an `audited` session
factory (the app's and the CLI's) — so no service can forget to log. The person is whatever the
HTTP layer put in `session.info["actor"]` (an `Actor`), "system" otherwise. Tables that machines
write at high rate (device state, receipts, planned occurrences) are left out: they are data,
not decisions.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, func, insert, inspect, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql.elements import ColumnElement

from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor

log = logging.getLogger(__name__)

INFO_ACTOR = "actor"
INFO_ADDRESS = "address"

#: Never copied into the log in clear.
SECRET_COLUMNS = frozenset({"password_hash", "digest", "credential_hash", "password"})

#: Bookkeeping that changes on every use (a token's last use): an update of these alone is
#: not a change anyone made.
VOLATILE_COLUMNS = frozenset({"last_used_at"})

#: Written by machines, often: not row-logged. Occurrences are the planner's output: the use
#: cases that make or stop one by hand (`pa_server.services.broadcasts`) log it themselves, and
#: each replan that changed something leaves one `plan` entry.
UNAUDITED_TABLES: frozenset[str] = frozenset(
    # cap_messages: each keeps up to 256 KB of raw XML; `services.alerts` logs every verdict.
    {"audit_log", "device_states", "receipts", "occurrences", "published_timelines", "cap_messages"}
)


def _plain(value: Any) -> Any:
    """A JSON-storable form of a column value."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _shown(key: str, value: Any) -> Any:
    return "***" if key in SECRET_COLUMNS and value is not None else _plain(value)


def _row(obj: Any) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(table, primary key, values before, values after) of a flushed object."""
    state = inspect(obj)
    mapper = state.mapper
    table = mapper.persist_selectable.name
    pk = "/".join(str(v) for v in mapper.primary_key_from_instance(obj))
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            before[attr.key] = _shown(attr.key, old)
            after[attr.key] = _shown(attr.key, new)
        else:
            value = state.attrs[attr.key].loaded_value
            if value is not NO_VALUE:
                before[attr.key] = after[attr.key] = _shown(attr.key, value)
    return table, pk, before, after


def _changed_only(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    keys = [k for k in after if before.get(k) != after.get(k) and k not in VOLATILE_COLUMNS]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _actor(db: DbSession) -> tuple[int | None, str, str]:
    actor = db.info.get(INFO_ACTOR)
    address = str(db.info.get(INFO_ADDRESS, ""))
    if isinstance(actor, Actor):
        return actor.id or None, actor.username, address
    return None, "system", address


def _after_flush(db: DbSession, _ctx: Any) -> None:
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    actor_id, actor_name, address = _actor(db)
    groups: Iterable[tuple[str, Iterable[Any]]] = (
        ("create", db.new),
        ("update", db.dirty),
        ("delete", db.deleted),
    )
    for action, objects in groups:
        for obj in objects:
            if isinstance(obj, AuditEntry):
                continue
            if action == "update" and not db.is_modified(obj, include_collections=False):
                continue
            table, pk, before, after = _row(obj)
            if table in UNAUDITED_TABLES:
                continue
            if action == "create":
                entry_before, entry_after = None, after
            elif action == "delete":
                entry_before, entry_after = before, None
            else:
                entry_before, entry_after = _changed_only(before, after)
                if not entry_after:
                    continue
            rows.append(
                {
                    "at": now,
                    "actor_id": actor_id,
                    "actor_name": actor_name,
                    "action": action,
                    "entity": table,
                    "entity_id": pk,
                    "before": entry_before,
                    "after": entry_after,
                    "address": address,
                }
            )
    if rows:
        # Core insert on the flush's own connection: same transaction, so a rolled-back change
        # leaves no log line and a logged change cannot be lost.
        db.connection().execute(insert(AuditEntry), rows)


#: The session factories `audited` has hooked, by identity while they live.
_AUDITED: weakref.WeakSet[sessionmaker[DbSession]] = weakref.WeakSet()


def audited(sessions: sessionmaker[DbSession]) -> sessionmaker[DbSession]:
    """Log every flushed change of the sessions `sessions` makes (idempotent); returns it.

    Idempotent by the factory's identity, not by `event.contains`: SQLAlchemy's event registry
    is keyed by `id()` and can outlive a collected factory, so a new factory at a recycled
    address was reported as hooked already and its sessions went unaudited (seen in a test
    run; reproduced by making and dropping a few thousand factories).
    """
    if sessions not in _AUDITED:
        event.listen(sessions, "after_flush", _after_flush)
        _AUDITED.add(sessions)
    return sessions


def record(
    db: DbSession,
    action: str,
    entity: str,
    entity_id: str = "",
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime,
) -> None:
    """Log an event that is not a row change (a sign-in, a refused action, a broadcast sent)."""
    actor_id, actor_name, address = _actor(db)
    db.connection().execute(
        insert(AuditEntry),
        [
            {
                "at": now,
                "actor_id": actor_id,
                "actor_name": actor_name,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": _plain(before),
                "after": _plain(after),
                "address": address,
            }
        ],
    )


def entries(
    db: DbSession,
    *,
    entity: str | None = None,
    actor_name: str | None = None,
    limit: int = 200,
    before_id: int | None = None,
    offset: int = 0,
    where: ColumnElement[bool] | None = None,
) -> list[AuditEntry]:
    """The newest log entries first, optionally filtered (`where`: a search's condition)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if where is not None:
        query = query.where(where)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if actor_name:
        query = query.where(AuditEntry.actor_name == actor_name)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(query))


def count(
    db: DbSession, *, entity: str | None = None, where: ColumnElement[bool] | None = None
) -> int:
    """How many log entries there are (of `entity`, matching `where`): the audit page's total."""
    query = select(func.count()).select_from(AuditEntry)
    if where is not None:
        query = query.where(where)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    return int(db.scalar(query) or 0)


#: SQL making the log append-only in the database itself, per dialect (used by the migration).
APPEND_ONLY_SQL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}
