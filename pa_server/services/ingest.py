"""What agents report: retained state and receipts, stored idempotently, one batch at a time.

Called by `pa_server.messaging.ingest_writer` with the messages the bus received since its last
batch; the caller commits. A message about an unknown device or occurrence is logged and dropped
(it may come from a device deleted since, or a forged client the ACL let through). Receipts are
stored once per (device, occurrence, type) with an `INSERT … ON CONFLICT DO NOTHING`, so a
duplicate (a redelivery, or another replica storing the same receipt) is skipped by the database
itself; within a batch the latest state of each device wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from devices.protocol import Receipt as ReceiptMsg
from devices.protocol import State
from pa_server.db.models import Device, DeviceState, Occurrence, Receipt

log = logging.getLogger(__name__)

#: A message the bus hands over: an agent's state or one of its receipts.
Message = State | ReceiptMsg

_RECEIPT_KEY = ("device_id", "occurrence_id", "type")


def ingest_batch(
    session: Session, messages: Sequence[Message], *, now: datetime
) -> list[ReceiptMsg]:
    """Store states and receipts (not committed); the receipts that were new, in order."""
    store_states(session, [m for m in messages if isinstance(m, State)], now=now)
    return store_receipts(session, [m for m in messages if isinstance(m, ReceiptMsg)], now=now)


def ingest_state(session: Session, state: State, *, now: datetime) -> bool:
    """Store a device's latest state; False (and nothing stored) for an unknown device."""
    return bool(store_states(session, [state], now=now))


def ingest_receipt(session: Session, receipt: ReceiptMsg, *, now: datetime) -> bool:
    """Store a receipt once per (device, occurrence, type); True only if it was new."""
    return bool(store_receipts(session, [receipt], now=now))


def store_states(session: Session, states: Sequence[State], *, now: datetime) -> set[str]:
    """Apply states in order (the last of a device wins); the ids of the devices stored."""
    known = _known(session, Device.id, (s.device_id for s in states))
    rows: dict[str, DeviceState] = {
        row.device_id: row
        for row in session.scalars(select(DeviceState).where(DeviceState.device_id.in_(known)))
    }
    for state in states:
        if state.device_id not in known:
            log.warning("state from unknown device %s dropped", state.device_id)
            continue
        row = rows.get(state.device_id)
        payload = state.to_wire()
        if row is None:
            row = rows[state.device_id] = DeviceState(device_id=state.device_id, payload=payload)
            session.add(row)
        elif state.at is not None or state.online:
            row.payload = payload
        else:
            # The LWT says only "offline": keep the last full state, flip the flag.
            row.payload = {**row.payload, "online": False}
        row.online, row.at, row.received_at = state.online, state.at or row.at, now
    session.flush()
    return set(rows)


def store_receipts(
    session: Session, receipts: Sequence[ReceiptMsg], *, now: datetime
) -> list[ReceiptMsg]:
    """Insert receipts, skipping duplicates in the batch and in the table; the new ones."""
    devices = _known(session, Device.id, (r.device_id for r in receipts))
    occurrences = _known(session, Occurrence.id, (r.occurrence_id for r in receipts))
    fresh: dict[tuple[str, str, str], ReceiptMsg] = {}
    for receipt in receipts:
        if receipt.device_id not in devices:
            log.warning("receipt from unknown device %s dropped", receipt.device_id)
        elif receipt.occurrence_id not in occurrences:
            log.warning(
                "receipt of %s for unknown occurrence %s dropped",
                receipt.device_id,
                receipt.occurrence_id,
            )
        else:
            fresh.setdefault((receipt.device_id, receipt.occurrence_id, receipt.type), receipt)
    if not fresh:
        return []
    rows = [
        {
            "device_id": r.device_id,
            "occurrence_id": r.occurrence_id,
            "type": r.type,
            "at": r.at,
            "late_ms": r.late_ms,
            "detail": r.detail,
            "received_at": now,
        }
        for r in fresh.values()
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Receipt)
        .values(rows)
        .on_conflict_do_nothing(index_elements=list(_RECEIPT_KEY))
        .returning(Receipt.device_id, Receipt.occurrence_id, Receipt.type)
    )
    stored = {(row.device_id, row.occurrence_id, row.type) for row in session.execute(stmt)}
    return [r for key, r in fresh.items() if key in stored]


def _known(session: Session, column: Any, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    if not wanted:
        return set()
    return set(session.scalars(select(column).where(column.in_(wanted))))
