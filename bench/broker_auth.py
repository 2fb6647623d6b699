"""What the embedded broker's logins cost per connect (a reconnect storm after an outage).

Connects N agents one after another (CONNECT, wait for CONNACK, DISCONNECT) to an anonymous
embedded broker (the same-run baseline), then to one that checks every login against devices
in SQLite (lookup + `$7$` verify + topic rules), and prints both. Usage:
`.venv/bin/python bench/broker_auth.py [N]` (default 300).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.protocol import utc_now
from pa_server.config import Settings
from pa_server.db.broker_accounts import DbDeviceLookup
from pa_server.db.engine import make_engine, session_factory, upgrade
from pa_server.messaging.broker import BrokerAccess, EmbeddedBroker
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.zones import ZoneCreate
from pa_server.services import devices, zones
from pa_server.services.context import UseCase, cli_actor


def connect_all(port: int, logins: list[tuple[str, str]]) -> float:
    """Seconds to log every (user, password) in and out in turn; fails on any refusal."""
    start = time.perf_counter()
    for user, password in logins:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"pa-device-{user}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.username_pw_set(user, password)
        done = threading.Event()
        codes: list[object] = []
        client.on_connect = lambda _c, _u, _f, rc, _p, codes=codes, done=done: (
            codes.append(rc),
            done.set(),
        )
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not done.wait(15) or getattr(codes[0], "is_failure", True):
            raise SystemExit(f"{user}: no CONNACK or refused ({codes})")
        client.disconnect()
        client.loop_stop()
    return time.perf_counter() - start


def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pa-bench-auth-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'pa.db'}")
        upgrade(engine)
        sessions = session_factory(engine)
        logins = []
        with sessions() as s:
            uc = UseCase(s, cli_actor(), utc_now(), Settings(data_dir=Path(tmp)))
            zones.create_zone(uc, ZoneCreate(path="vt", name="vt", timezone="UTC"))
            for i in range(n):
                device, password = devices.create_device(
                    uc, DeviceCreate(id=f"loa-{i:05d}", zone="vt")
                )
                logins.append((device.id, password))
            s.commit()
        with EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True) as broker:
            anonymous = connect_all(broker.port, logins)
        access = BrokerAccess(
            prefix="pa/v2",
            server_user="pa-server",
            server_password="x",
            lookup=DbDeviceLookup(sessions),
        )
        with EmbeddedBroker("127.0.0.1", 0, access=access) as broker:
            checked = connect_all(broker.port, logins)
        engine.dispose()
    print(f"{n} agents connecting one after another to the embedded broker:")
    print(f"  anonymous (baseline)      {anonymous:6.2f} s  {anonymous / n * 1000:6.2f} ms/connect")
    print(f"  login checked (SQLite)    {checked:6.2f} s  {checked / n * 1000:6.2f} ms/connect")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
