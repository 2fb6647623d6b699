"""A relay started through the live service on a real snapserver, to real snapclients.

Three loudspeakers (snapclient file players whose host ids are the device ids) stand in for
agents: the two in the target zone hear the local test radio, the third stays on `idle`;
the live item the service publishes is signed and verifies as a PROTOCOL v2 live item; the
stop records the outcome and the recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import PlayBody, Topics, open_envelope, utc_now
from pa_server.auth.audit import audited
from pa_server.db.engine import make_engine, session_factory, upgrade
from pa_server.db.models import LiveSessionRow, Occurrence
from pa_server.live.engine import SnapcastEngine
from pa_server.messaging.bus import FakeBus
from pa_server.messaging.dispatch import DictPublishedStore, Dispatcher
from pa_server.messaging.signing import ServerKeys
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.live import LiveCreate
from pa_server.services import devices, live
from pa_server.services.live import LiveHub
from pa_server.services.timelines import sync_timelines
from tests.live_support import (
    LOCAL_NETWORKS,
    LOCAL_RADIO,
    AudioHttpServer,
    band_energy,
    loud_seconds,
    read_mono,
    require_ffmpeg,
    tone,
    wait_for,
    wav_bytes,
)
from tests.pa_server.server_fixtures import add_zone, use_case

from .conftest import ClientsFactory

pytestmark = [pytest.mark.network, pytest.mark.slow]

ZONE = "xa-a/thon-1"


@pytest.fixture(autouse=True)
def _ffmpeg() -> None:
    require_ffmpeg()


@pytest.fixture
def store(db_url: str) -> Iterator[sessionmaker[Session]]:
    """The service's database (SQLite, or PostgreSQL when configured); `engine` is Snapcast here."""
    db = make_engine(db_url)
    upgrade(db)
    yield audited(session_factory(db))
    db.dispose()


def _seed(session: Session, tmp_path: Path) -> None:
    now = utc_now()
    # The test runs on the wall clock (a real snapserver and radio): the commune has no quiet
    # hours (start == end), or a normal relay run in the evening would be refused for them.
    add_zone(
        session, "xa-a", "Xã A", timezone="UTC", now=now, quiet_start=time(0), quiet_end=time(0)
    )
    for path, name in ((ZONE, "Thôn 1"), ("xa-a/thon-2", "Thôn 2")):
        add_zone(session, path, name, timezone="UTC", now=now)
    uc = use_case(session, data_dir=tmp_path, now=now)
    for device_id, zone in (("loa-1", ZONE), ("loa-2", ZONE), ("loa-3", "xa-a/thon-2")):
        devices.create_device(uc, DeviceCreate(id=device_id, zone=zone))
    session.commit()


def test_a_relay_through_the_service_reaches_exactly_its_targets_as_a_signed_live_item(
    engine: SnapcastEngine,
    clients: ClientsFactory,
    store: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    sessions = store
    with sessions() as s:
        _seed(s, tmp_path)
    keys = ServerKeys.load_or_create(tmp_path / "keys")
    topics = Topics("pa/v2/test")
    bus = FakeBus()
    dispatcher = Dispatcher(bus, keys, topics, DictPublishedStore())
    hub = LiveHub(engine, sessions=sessions, dispatcher=lambda: dispatcher, relay_guard=LOCAL_RADIO)
    outs = clients(["loa-1", "loa-2", "loa-3"])
    assert wait_for(lambda: set(outs) <= engine.control.status().connected, 15)
    with AudioHttpServer(wav_bytes(tone(440, 6.0))) as radio, sessions() as s:
        now = utc_now()
        uc = use_case(
            s,
            data_dir=tmp_path,
            now=now,
            dispatcher=dispatcher,
            relay_allowed_networks=LOCAL_NETWORKS,
        )
        row = live.start_relay(
            uc, hub, LiveCreate(title="Tiếp sóng thử", zones=[ZONE], minutes=5, url=radio.url)
        )
        sid, occ_id = row.id, row.occurrence_id
        assert occ_id is not None
        # The engine put exactly the targets' clients on the session's stream.
        groups = {c.id: c.stream_id for c in engine.control.status().clients.values()}
        stream = engine.sessions()[0].stream
        assert groups == {"loa-1": stream, "loa-2": stream, "loa-3": "idle"}
        assert hub.reached(row.device_ids) == ["loa-1", "loa-2"]
        assert wait_for(
            lambda: all(loud_seconds(read_mono(outs[d])) >= 2.0 for d in ("loa-1", "loa-2")), 20
        )
        # The timeline the planner publishes carries the same live item, signed.
        sync_timelines(
            s, dispatcher, now=now, horizon=timedelta(hours=1), base_url="http://pa.test"
        )
        live.stop_session(uc, hub, sid)
    verify = keys.verification_keys()
    [(_play_topic, play_payload, _)] = [
        (t, p, r)
        for t, p, r in bus.published
        if t == topics.cmd_for(f"zone:{ZONE}") and b'"play"' in p
    ]
    env = open_envelope(play_payload, keys=verify, now=now)
    assert env.kind == "play" and isinstance(env.body, PlayBody)
    item = env.body.item()
    assert item.occurrence_id == occ_id and item.media is None and item.live is not None
    assert item.live.model_dump() == {
        "engine": "snapcast",
        "host": engine.stream_host,
        "port": engine.stream_port,
        "stream": stream,
    }
    assert item.until is not None and item.play_at is not None and item.until > item.play_at
    timeline = open_envelope(
        {t: p for t, p, r in bus.published if r}[topics.timeline_for(f"zone:{ZONE}")],
        keys=verify,
        now=now,
    )
    assert [i for i in timeline.body.items if i.occurrence_id == occ_id] == [item]  # type: ignore[union-attr]
    # The third loudspeaker heard nothing; the targets heard the radio.
    assert np.abs(read_mono(outs["loa-3"])).max(initial=0.0) == 0.0
    got = read_mono(outs["loa-1"])
    assert band_energy(got[np.abs(got) > 0], 440) > 0.9
    with sessions() as s:
        stored = s.get(LiveSessionRow, sid)
        assert stored is not None and stored.outcome == "stopped"
        assert stored.recording_sha256 is not None  # the proof of what was relayed
        assert (Path(engine.media_store.media_dir) / f"{stored.recording_sha256}.mp3").is_file()  # type: ignore[union-attr]
        occ = s.get(Occurrence, occ_id)
        assert occ is not None and occ.status == "stopped"
    assert {c.stream_id for c in engine.control.status().clients.values()} == {"idle"}
