"""Broker logins from the device table: what the embedded broker and `pa-server mqtt-acl` read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import DEVICE_ID_RE
from pa_server.db.models import Device
from pa_server.messaging.broker_acl import DeviceCredential


def device_credentials(session: Session) -> list[DeviceCredential]:
    """Every registered device's login (id, zone, stored `$7$` hash), ordered by id."""
    rows = session.execute(
        select(Device.id, Device.zone_path, Device.credential_hash).order_by(Device.id)
    )
    return [DeviceCredential(device_id, zone, hashed) for device_id, zone, hashed in rows]


class DbDeviceLookup:
    """`lookup(device_id)` → that device's login now, or None; one short read per call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def __call__(self, device_id: str) -> DeviceCredential | None:
        if not DEVICE_ID_RE.match(device_id):
            return None  # no such device can exist: spare the database
        with self._sessions() as session:
            row = session.execute(
                select(Device.zone_path, Device.credential_hash).where(Device.id == device_id)
            ).first()
        return None if row is None else DeviceCredential(device_id, row[0], row[1])
