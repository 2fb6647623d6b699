"""Two real `pa-server run` processes on one PostgreSQL and one Mosquitto (issue 6, item 4).

Exactly one dispatches; SIGKILL it and the other takes over within 15 s; timelines keep
growing versions; no occurrence is doubled or lost, in the database or on the wire. Runs only
with both PA_TEST_DATABASE_URL and PA_TEST_MQTT_URL (CI has both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from devices.protocol import TimelineBody, load_public_key_b64, open_envelope, utc_now
from pa_server.auth import accounts
from pa_server.db.engine import make_engine, session_factory
from pa_server.messaging.bus import BrokerAddress
from pa_server.messaging.signing import ServerKeys
from tests.mqtt_fixtures import clear_retained
from tests.pa_server.server_fixtures import scratch_database
from tests.support import WAIT_S, free_port, wait_for

pytestmark = [pytest.mark.network, pytest.mark.slow]

V1 = "/api/v1"
ZONE = "vinh-tuong/tan-tien"
#: Issue 6: a standby takes over within 15 s. A bound on the wait, and the requirement.
TAKEOVER_S = 15.0


@dataclass
class Replica:
    """One `pa-server run` subprocess."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cwd: Path) -> None:
        code = "import sys; from pa_server.cli import main; sys.exit(main(sys.argv[1:]))"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, "run"],
                env={**self.env, "PA_PORT": str(self.port)},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.healthy, f"{self.name} to answer /healthz (log: {self.log})")

    def healthy(self) -> dict[str, Any] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{self.url}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        health: dict[str, Any] = response.json()
        return health

    def dispatching(self) -> bool:
        health = self.healthy()
        return bool(health and health["dispatcher"])

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = httpx.request(method, f"{self.url}{path}", timeout=WAIT_S, **kw)
        assert response.status_code == status, response.text
        return response.json()

    def metrics(self) -> dict[str, float]:
        body = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {
            s.name: s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
            if not s.labels
        }

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=WAIT_S)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class TimelineWatch:
    """A bare paho client holding the latest verified timeline per topic."""

    url: str
    prefix: str
    keys: dict[str, Any]
    latest: dict[str, TimelineBody] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        address = BrokerAddress.parse(self.url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"watch-{uuid.uuid4().hex[:10]}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{self.prefix}/timeline/#", 1)
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port, 30)
        self.client.loop_start()

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            return
        env = open_envelope(msg.payload, keys=self.keys, now=utc_now())
        assert isinstance(env.body, TimelineBody)
        with self.lock:
            known = self.latest.get(msg.topic)
            # Versions only grow, whichever replica signed them.
            assert known is None or env.body.version >= known.version, (known, env.body)
            self.latest[msg.topic] = env.body

    def get(self, topic: str) -> TimelineBody | None:
        with self.lock:
            return self.latest.get(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def database(pg_url: str | None) -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped after."""
    if not pg_url:
        pytest.skip("PA_TEST_DATABASE_URL not set: the replica test needs PostgreSQL")
    with scratch_database(pg_url) as url:
        yield url


def occurrence_rows(db_url: str) -> list[tuple[str, str | None, str, str]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, schedule_id, play_at, status FROM occurrences ORDER BY id")
            )
            return [(r[0], r[1], str(r[2]), r[3]) for r in rows]
    finally:
        engine.dispose()


def api_tokens(database: str) -> tuple[str, str]:
    """API tokens of two admins, made in the shared database the replicas migrated."""
    engine = make_engine(database)
    try:
        with session_factory(engine)() as db:
            tokens = []
            for name in ("replica-author", "replica-approver"):
                user = accounts.create_user(
                    db, name, role="admin", password="replica-password", now=utc_now()
                )
                tokens.append(accounts.create_token(db, user, "test", now=utc_now())[0])
            db.commit()
    finally:
        engine.dispose()
    return tokens[0], tokens[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_one_dispatcher_and_a_takeover_after_sigkill(
    tmp_path: Path, database: str, mqtt_url: str | None
) -> None:
    if not mqtt_url:
        pytest.skip("PA_TEST_MQTT_URL not set: the replica test needs Mosquitto")
    prefix = f"pa-test/{uuid.uuid4().hex[:12]}"
    data_dir = tmp_path / "data"
    # Replicas share the signing key (agents trust one key set) and the media store.
    keys = ServerKeys.load_or_create(data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PA_")} | {
        "PA_DATA_DIR": str(data_dir),
        "PA_DATABASE_URL": database,
        "PA_MQTT_URL": mqtt_url,
        "PA_TOPIC_PREFIX": prefix,
        "PA_HOST": "127.0.0.1",
        "PA_PUBLIC_URL": "http://pa.test:8000",
        "PA_TTS_ENGINE": "espeak",
        "PA_PLANNER_INTERVAL_S": "1",
        # Dispatch fail-over only: no live audio (two managed snapservers on one data dir
        # would stop each other's, and each start costs seconds).
        "PA_LIVE": "false",
    }
    replicas = [Replica(name, free_port(), env, tmp_path / f"{name}.log") for name in ("r1", "r2")]
    watch = TimelineWatch(
        mqtt_url,
        prefix,
        {k["kid"]: load_public_key_b64(k["public_key"]) for k in keys.public_keys()},
    )
    try:
        for replica in replicas:
            replica.start(tmp_path)
        wait_for(lambda: sum(r.dispatching() for r in replicas) == 1, "one dispatcher")
        leader = next(r for r in replicas if r.dispatching())
        standby = next(r for r in replicas if r is not leader)
        assert leader.metrics()["pa_dispatch_leader"] == 1
        assert standby.metrics()["pa_dispatch_leader"] == 0

        # Everything through the standby: any replica serves the API (with an API token; a
        # second admin approves, since nobody approves their own announcement).
        author, approver = api_tokens(database)

        def api(method: str, path: str, status: int = 200, **kw: Any) -> Any:
            token = approver if path.endswith("/approve") else author
            return standby.call(method, path, status, headers=bearer(token), **kw)

        # No quiet hours (start == end): the test broadcasts at whatever hour it runs.
        api(
            "POST",
            f"{V1}/zones",
            201,
            json={
                "path": "vinh-tuong",
                "name": "Vĩnh Tường",
                "quiet_start": "00:00",
                "quiet_end": "00:00",
            },
        )
        api("POST", f"{V1}/zones", 201, json={"path": ZONE, "name": "Tân Tiến"})
        api("POST", f"{V1}/devices", 201, json={"id": "loa-01", "zone": ZONE})
        ann = api(
            "POST", f"{V1}/announcements", 201, json={"title": "Bluezone", "text": "Cài Bluezone."}
        )
        api("POST", f"{V1}/announcements/{ann['id']}/render", json={"engine": "espeak"})
        api("POST", f"{V1}/announcements/{ann['id']}/approve")
        sched = api(
            "POST",
            f"{V1}/schedules",
            201,
            json={
                "announcement_id": ann["id"],
                "zones": [ZONE],
                "rrule": "FREQ=DAILY;BYHOUR=6,9,12,15,18;BYMINUTE=0",
                "start": utc_now().isoformat(),
            },
        )
        topic = f"{prefix}/timeline/zone/{ZONE}"
        first = wait_for(
            lambda: (tl := watch.get(topic)) is not None and tl.items and tl, "timeline"
        )
        before = occurrence_rows(database)
        assert before and all(row[1] == sched["id"] and row[3] == "planned" for row in before)
        assert {i.occurrence_id for i in first.items} == {row[0] for row in before}

        leader.kill()
        wait_for(standby.dispatching, "the standby to take over", timeout=TAKEOVER_S)

        # The new dispatcher publishes: a one-off broadcast lands on the same timeline.
        b = api(
            "POST", f"{V1}/broadcasts", 201, json={"announcement_id": ann["id"], "zones": [ZONE]}
        )
        after_tl = wait_for(
            lambda: (
                (tl := watch.get(topic)) is not None
                and b["id"] in {i.occurrence_id for i in tl.items}
                and tl
            ),
            "the broadcast on the timeline",
        )
        assert after_tl.version > first.version
        after = occurrence_rows(database)
        # Nothing of the schedule doubled or lost: the same rows, the same ids on the wire.
        assert [row for row in after if row[0] != b["id"]] == before
        assert {i.occurrence_id for i in after_tl.items} == {row[0] for row in before} | {b["id"]}
        # Distinct MQTT client ids: the replicas never pushed each other off the broker.
        survivor = standby.metrics()
        assert survivor["pa_mqtt_connected"] == 1 and survivor["pa_mqtt_reconnects_total"] == 0
    finally:
        watch.close()
        for replica in replicas:
            replica.stop()
        clear_retained(mqtt_url, prefix)
