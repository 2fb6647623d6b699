"""PahoBus against real brokers: signed timelines out, state and receipts in, garbage dropped."""

from __future__ import annotations

import base64
import json
import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devices import protocol as p
from pa_server.messaging.broker import EmbeddedBroker
from pa_server.messaging.bus import BrokerAddress, BusConfigError, BusError, PahoBus, PublishTimeout
from pa_server.messaging.dispatch import Dispatcher
from pa_server.messaging.signing import ServerKeys
from tests.mqtt_fixtures import WAIT_S, Collector, TestBroker

SHA = "cd" * 32
AT = datetime(2026, 11, 28, 5, 0, 1, tzinfo=UTC)
TITLE = "Khai báo y tế tại tokhaiyte.vn"  # non-ASCII on purpose: canonical JSON keeps it as is


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll `condition` up to `timeout` s; a bound on waiting, not an assertion of speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


class Inbox:
    """Handlers for a bus that queue what they get (they run on paho's thread)."""

    def __init__(self) -> None:
        self.states: queue.Queue[p.State] = queue.Queue()
        self.receipts: queue.Queue[p.Receipt] = queue.Queue()

    def state(self) -> p.State:
        return self.states.get(timeout=WAIT_S)

    def receipt(self) -> p.Receipt:
        return self.receipts.get(timeout=WAIT_S)


def make_bus(broker: TestBroker, **kw: object) -> PahoBus:
    return PahoBus(
        broker.url,
        topics=broker.topics,
        client_id=f"test-server-{broker.topics.prefix.rsplit('/', 1)[-1]}",
        clean_session=True,
        publish_timeout_s=WAIT_S,
        connect_timeout_s=WAIT_S,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def bus(mqtt_broker: TestBroker) -> Iterator[tuple[PahoBus, Inbox]]:
    inbox = Inbox()
    bus = make_bus(mqtt_broker, reconnect_min_s=1, reconnect_max_s=2)
    bus.set_handlers(inbox.states.put, inbox.receipts.put)  # before start, as the server does
    with bus:
        assert bus.wait_ready(WAIT_S)
        yield bus, inbox


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerAddress("127.0.0.1", 1883, tls=False)),
        ("mqtt://broker.example", BrokerAddress("broker.example", 1883, tls=False)),
        ("mqtts://broker.example", BrokerAddress("broker.example", 8883, tls=True)),
        ("mqtts://srv:p%40ss@h:8884", BrokerAddress("h", 8884, True, "srv", "p@ss")),
    ],
)
def test_broker_urls(url: str, expected: BrokerAddress) -> None:
    assert BrokerAddress.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://host:1883", "mqtt:// or mqtts://"),
        ("mqtt://host:99999", "invalid port"),
        ("mqtt://:1883", "no host"),
        ("mqtt://host:1883/topic", "just scheme://host:port"),
    ],
)
def test_bad_broker_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(BusConfigError, match=message):
        PahoBus(url)


def test_ca_file_without_tls_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BusConfigError, match="not mqtts"):
        PahoBus("mqtt://127.0.0.1:1883", ca_file=tmp_path / "ca.pem")


def test_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BusConfigError, match="CA file"):
        PahoBus("mqtts://127.0.0.1:8883", ca_file=tmp_path / "missing.pem")


def test_wrong_credentials_are_a_clear_error(tmp_path: Path) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    password_file = tmp_path / "passwd"
    password_file.write_text(f"server:{PasswordHash((Argon2Hasher(),)).hash('right')}\n")
    with EmbeddedBroker("127.0.0.1", 0, password_file=password_file) as broker:
        with PahoBus(broker.url, username="server", password="right", clean_session=True) as ok:
            assert ok.connected
        wrong = PahoBus(broker.url, username="server", password="wrong", clean_session=True)
        with pytest.raises(BusError, match="refused"):
            wrong.start()


def test_publish_while_disconnected_fails_at_once() -> None:
    # Nothing listens on this port: the bus starts, keeps retrying, and refuses to publish.
    with EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True) as probe:
        port = probe.port
    bus = PahoBus(f"mqtt://127.0.0.1:{port}", connect_timeout_s=0.2, clean_session=True)
    with bus:
        assert not bus.connected
        with pytest.raises(PublishTimeout, match="not connected"):
            bus.publish("pa/v1/cmd/device/x", b"{}", retain=False)


# ------------------------------------------------------------------ timelines out


def published_keys(keys: ServerKeys) -> dict[str, Ed25519PublicKey]:
    """What an agent is provisioned with: the server's published keys, nothing else."""
    return {k["kid"]: p.load_public_key_b64(k["public_key"]) for k in keys.public_keys()}


def verify_by_hand(payload: bytes, public_keys: list[dict[str, str]]) -> dict[str, object]:
    """Verify an envelope the way a third-party client would, without `devices.protocol`."""
    envelope = json.loads(payload.decode("utf-8"))
    signature = base64.b64decode(envelope.pop("sig"))
    canonical = json.dumps(
        envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    raw = {k["kid"]: base64.b64decode(k["public_key"]) for k in public_keys}
    Ed25519PublicKey.from_public_bytes(raw[envelope["kid"]]).verify(signature, canonical)
    return envelope  # type: ignore[no-any-return]


def test_timeline_through_the_bus_verifies_for_a_later_subscriber(
    mqtt_broker: TestBroker,
    bus: tuple[PahoBus, Inbox],
    plain_client: Callable[..., Collector],
    tmp_path: Path,
) -> None:
    paho_bus, _ = bus
    keys = ServerKeys.load_or_create(tmp_path)
    store: dict[str, tuple[int, str]] = {}

    class Store:
        get = staticmethod(store.get)

        @staticmethod
        def put(target: str, version: int, content_hash: str) -> None:
            store[target] = (version, content_hash)

    now = p.utc_now()
    play_at = now + timedelta(hours=1)
    item = p.Item(
        occurrence_id="occ-1",
        title=TITLE,
        play_at=play_at,
        media=p.Media(url=f"http://server/media/{SHA}.mp3", sha256=SHA, bytes=10, duration_ms=5),
    )
    dispatcher = Dispatcher(paho_bus, keys, mqtt_broker.topics, Store())
    target = "zone:vinh-tuong/tan-tien"
    assert dispatcher.sync({target: (item,)}, now=now, horizon_until=now + timedelta(hours=48)) == [
        target
    ]
    assert paho_bus.messages_out == 1

    # An agent of thon-1 connects only now: the retained timeline of its commune reaches it.
    agent_topics = mqtt_broker.topics.agent_subscriptions("loa-01", "vinh-tuong/tan-tien/thon-1")
    agent = plain_client(*agent_topics)
    msg = agent.get()
    assert msg.retain
    assert msg.topic == mqtt_broker.topics.timeline_zone("vinh-tuong/tan-tien")

    payload = bytes(msg.payload)
    env = p.open_envelope(payload, keys=published_keys(keys), now=p.utc_now())
    assert isinstance(env.body, p.TimelineBody)
    assert env.body.target == target
    assert env.body.items[0].title == TITLE

    by_hand = verify_by_hand(payload, keys.public_keys())
    assert by_hand["kind"] == "timeline"
    assert TITLE.encode() in payload  # UTF-8 as is, not \u escapes
    forged = payload.replace(b"occ-1", b"occ-2")
    with pytest.raises(InvalidSignature):
        verify_by_hand(forged, keys.public_keys())


# ------------------------------------------------------------------ state and receipts in


def test_state_and_receipts_from_an_agent_reach_the_handlers(
    mqtt_broker: TestBroker, bus: tuple[PahoBus, Inbox], plain_client: Callable[..., Collector]
) -> None:
    paho_bus, inbox = bus
    topics = mqtt_broker.topics
    agent = plain_client()
    agent.publish(topics.state("loa-01"), p.dumps({"device_id": "loa-01", "online": True}))
    receipt = p.Receipt(device_id="loa-01", occurrence_id="occ-1", type="started", at=AT, late_ms=4)
    agent.publish(topics.event("loa-01"), p.dumps(receipt))
    state = inbox.state()
    assert (state.device_id, state.online) == ("loa-01", True)
    assert inbox.receipt() == receipt
    assert paho_bus.messages_in == 2


def test_retained_lwt_state_reaches_a_server_that_connects_later(
    mqtt_broker: TestBroker, plain_client: Callable[..., Collector]
) -> None:
    agent = plain_client()
    agent.publish(mqtt_broker.topics.state("loa-02"), p.offline_state("loa-02"), retain=True)
    inbox = Inbox()
    with make_bus(mqtt_broker) as late_bus:
        # Handlers set after start: the bus subscribes only now, so the retained state
        # (sent right after the SUBACK) is not lost to a bus without handlers.
        late_bus.set_handlers(inbox.states.put, inbox.receipts.put)
        state = inbox.state()
    assert (state.device_id, state.online) == ("loa-02", False)


def test_garbage_is_dropped_and_the_bus_keeps_working(
    mqtt_broker: TestBroker, bus: tuple[PahoBus, Inbox], plain_client: Callable[..., Collector]
) -> None:
    paho_bus, inbox = bus
    topics = mqtt_broker.topics
    agent = plain_client()
    good = p.Receipt(device_id="loa-01", occurrence_id="occ-9", type="finished", at=AT)
    for topic, payload in [
        (f"{topics.prefix}/event/x", b"\xff not json"),
        (f"{topics.prefix}/event/x", b"[1, 2]"),
        (topics.event("loa-01"), b'{"device_id": "loa-01"}'),
        (topics.event("loa-01"), p.dumps(good.model_copy(update={"device_id": "loa-99"}))),
        (f"{topics.prefix}/event/BAD_ID", p.dumps(good)),
        (topics.state("loa-01"), b'{"device_id": "loa-01", "online": "maybe"}'),
    ]:
        agent.publish(topic, payload)
    agent.publish(topics.event("loa-01"), p.dumps(good))
    assert inbox.receipt() == good  # the valid one after all the garbage
    assert paho_bus.dropped == 6
    assert inbox.states.empty()
    assert inbox.receipts.empty()


def test_a_failing_handler_is_logged_and_never_stops_the_bus(
    mqtt_broker: TestBroker, bus: tuple[PahoBus, Inbox], plain_client: Callable[..., Collector]
) -> None:
    paho_bus, inbox = bus
    calls: list[p.Receipt] = []

    def flaky(receipt: p.Receipt) -> None:
        calls.append(receipt)
        if len(calls) == 1:
            raise RuntimeError("database is down")
        inbox.receipts.put(receipt)

    paho_bus.set_handlers(inbox.states.put, flaky)
    agent = plain_client()
    for occ in ("occ-1", "occ-2"):
        receipt = p.Receipt(device_id="loa-01", occurrence_id=occ, type="fetched", at=AT)
        agent.publish(mqtt_broker.topics.event("loa-01"), p.dumps(receipt))
    assert inbox.receipt().occurrence_id == "occ-2"
    assert paho_bus.handler_errors == 1


# ------------------------------------------------------------------ reconnect


def test_broker_restart_reconnects_and_resubscribes(
    mqtt_broker: TestBroker, bus: tuple[PahoBus, Inbox], plain_client: Callable[..., Collector]
) -> None:
    if mqtt_broker.embedded is None:
        pytest.skip("restarting Mosquitto is not this test's business")
    paho_bus, inbox = bus
    assert paho_bus.reconnects == 0
    mqtt_broker.restart()
    wait_until(lambda: paho_bus.reconnects >= 1 and paho_bus.wait_ready(0), "reconnect")
    agent = plain_client()
    receipt = p.Receipt(device_id="loa-01", occurrence_id="o", type="missed", at=AT)
    agent.publish(mqtt_broker.topics.event("loa-01"), p.dumps(receipt))
    assert inbox.receipt() == receipt  # so the subscriptions came back too
    paho_bus.publish(mqtt_broker.topics.cmd_device("loa-01"), b"{}", retain=False)


def test_receipts_sent_while_the_server_is_away_arrive_when_it_returns(
    mqtt_broker: TestBroker, plain_client: Callable[..., Collector]
) -> None:
    """A persistent session (stable client id, clean_session=False) keeps proof of broadcast."""
    if mqtt_broker.kind == "embedded":
        pytest.skip("amqtt drops an anonymous client's session on disconnect (checked by hand)")
    client_id = f"server-{mqtt_broker.topics.prefix.rsplit('/', 1)[-1]}"
    options = {"topics": mqtt_broker.topics, "client_id": client_id, "connect_timeout_s": WAIT_S}
    inbox = Inbox()
    first = PahoBus(mqtt_broker.url, clean_session=False, **options)  # type: ignore[arg-type]
    first.set_handlers(inbox.states.put, inbox.receipts.put)
    with first:
        assert first.wait_ready(WAIT_S)
    receipt = p.Receipt(device_id="loa-01", occurrence_id="occ-7", type="finished", at=AT)
    plain_client().publish(mqtt_broker.topics.event("loa-01"), p.dumps(receipt))
    back = PahoBus(mqtt_broker.url, clean_session=False, **options)  # type: ignore[arg-type]
    back.set_handlers(inbox.states.put, inbox.receipts.put)
    try:
        with back:
            assert inbox.receipt() == receipt
    finally:
        with PahoBus(mqtt_broker.url, clean_session=True, **options):  # type: ignore[arg-type]
            pass  # ends the persistent session on the broker
