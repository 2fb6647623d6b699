"""What agents report: retained state and receipts, stored idempotently.

Called from the bus's handlers; a message about an unknown device or occurrence is logged and
dropped (it may come from a device deleted since, or a forged client the ACL let through).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from devices.protocol import Receipt as ReceiptMsg
from devices.protocol import State
from pa_server.db.models import Device, DeviceState, Occurrence, Receipt

log = logging.getLogger(__name__)


def ingest_state(session: Session, state: State, *, now: datetime) -> bool:
    """Store a device's latest state; False (and nothing stored) for an unknown device."""
    if session.get(Device, state.device_id) is None:
        log.warning("state from unknown device %s dropped", state.device_id)
        return False
    row = session.get(DeviceState, state.device_id)
    payload = state.to_wire()
    if row is None:
        row = DeviceState(device_id=state.device_id, payload=payload)
        session.add(row)
    elif state.at is not None or state.online:
        row.payload = payload
    else:
        # The LWT says only "offline": keep the last full state, flip the flag.
        row.payload = {**row.payload, "online": False}
    row.online, row.at, row.received_at = state.online, state.at or row.at, now
    session.flush()
    return True


def ingest_receipt(session: Session, receipt: ReceiptMsg, *, now: datetime) -> bool:
    """Store a receipt once per (device, occurrence, type); True only if it was new."""
    if session.get(Device, receipt.device_id) is None:
        log.warning("receipt from unknown device %s dropped", receipt.device_id)
        return False
    if session.get(Occurrence, receipt.occurrence_id) is None:
        log.warning(
            "receipt of %s for unknown occurrence %s dropped",
            receipt.device_id,
            receipt.occurrence_id,
        )
        return False
    if _exists(session, receipt):
        return False
    try:
        # A savepoint, so a concurrent duplicate (another replica) loses only this insert.
        with session.begin_nested():
            session.add(
                Receipt(
                    device_id=receipt.device_id,
                    occurrence_id=receipt.occurrence_id,
                    type=receipt.type,
                    at=receipt.at,
                    late_ms=receipt.late_ms,
                    detail=receipt.detail,
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _exists(session: Session, receipt: ReceiptMsg) -> bool:
    return (
        session.scalar(
            select(Receipt.id).where(
                Receipt.device_id == receipt.device_id,
                Receipt.occurrence_id == receipt.occurrence_id,
                Receipt.type == receipt.type,
            )
        )
        is not None
    )
