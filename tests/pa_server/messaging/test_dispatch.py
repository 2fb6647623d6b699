"""Dispatcher: timelines published only when content changes, versions only grow, commands."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import protocol as p
from pa_server.messaging.bus import FakeBus, PublishTimeout
from pa_server.messaging.dispatch import Dispatcher, content_hash
from pa_server.messaging.signing import ServerKeys

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
HORIZON = timedelta(hours=48)
TOPICS = p.Topics(prefix="pa/v1")
SHA = "ab" * 32
ZONE = "zone:vinh-tuong/tan-tien"
DEVICE = "device:loa-01"


def item(occ: str, play_at: datetime, **over: object) -> p.Item:
    data: dict[str, object] = {
        "occurrence_id": occ,
        "title": "Cài đặt Bluezone",
        "play_at": play_at,
        "priority": 50,
        "media": {
            "url": f"http://server:8000/media/{SHA}.mp3",
            "sha256": SHA,
            "bytes": 1000,
            "duration_ms": 60_000,
        },
    }
    data.update(over)
    return p.Item.model_validate(data)


A = item("occ-a", NOW + timedelta(hours=2))
B_AT = NOW + timedelta(hours=20)
B = item("occ-b", B_AT)


class DictStore:
    """The PublishedStore of the tests."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str]] = {}

    def get(self, target: str) -> tuple[int, str] | None:
        return self.rows.get(target)

    def put(self, target: str, version: int, content_hash: str) -> None:
        self.rows[target] = (version, content_hash)


class ListableStore(DictStore):
    def targets(self) -> Iterable[str]:
        return list(self.rows)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> ServerKeys:
    return ServerKeys.load_or_create(tmp_path_factory.mktemp("data"))


def opened(keys: ServerKeys, payload: bytes, now: datetime = NOW) -> p.Envelope:
    return p.open_envelope(payload, keys=keys.verification_keys(), now=now)


def timeline(keys: ServerKeys, payload: bytes, now: datetime = NOW) -> p.TimelineBody:
    body = opened(keys, payload, now).body
    assert isinstance(body, p.TimelineBody)
    return body


def sync(d: Dispatcher, desired: dict[str, tuple[p.Item, ...]], now: datetime = NOW) -> list[str]:
    return d.sync(desired, now=now, horizon_until=now + HORIZON)


def test_first_sync_publishes_a_signed_retained_timeline_per_target(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    assert sync(d, {ZONE: (B, A), DEVICE: (A,)}) == [DEVICE, ZONE]
    retained = bus.retained()
    assert set(retained) == {
        "pa/v1/timeline/zone/vinh-tuong/tan-tien",
        "pa/v1/timeline/device/loa-01",
    }
    env = opened(keys, retained["pa/v1/timeline/zone/vinh-tuong/tan-tien"])
    assert env.kind == "timeline"
    assert env.expires_at >= NOW + HORIZON  # PROTOCOL: expires_at no earlier than horizon_until
    body = env.body
    assert isinstance(body, p.TimelineBody)
    assert body.target == ZONE
    assert body.version == p.timeline_version(NOW)
    assert body.horizon_until == NOW + HORIZON
    assert [i.occurrence_id for i in body.items] == ["occ-a", "occ-b"]  # ordered by play_at
    assert store.rows[ZONE] == (body.version, content_hash((A, B), keys.kid))


def test_unchanged_content_is_not_republished_as_the_horizon_moves(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A, B)})
    for minutes in (1, 5, 60, 600):
        assert sync(d, {ZONE: (B, A)}, NOW + timedelta(minutes=minutes)) == []
    assert len(bus.published) == 1


def test_a_restarted_dispatcher_with_the_same_store_publishes_nothing(keys: ServerKeys) -> None:
    store = DictStore()
    sync(Dispatcher(FakeBus(), keys, TOPICS, store), {ZONE: (A, B), DEVICE: (A,)})
    bus = FakeBus()
    restarted = Dispatcher(bus, keys, TOPICS, store)
    assert sync(restarted, {ZONE: (A, B), DEVICE: (A,)}, NOW + timedelta(seconds=5)) == []
    assert bus.published == []


def test_changed_content_is_republished_with_a_greater_version(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A,)})
    later = NOW + timedelta(seconds=5)
    assert sync(d, {ZONE: (A, B)}, later) == [ZONE]
    first, second = (timeline(keys, payload, later) for _, payload, _ in bus.published)
    assert second.version > first.version
    assert [i.occurrence_id for i in second.items] == ["occ-a", "occ-b"]
    # A changed field of one item (volume) is a change too.
    assert sync(d, {ZONE: (A, item("occ-b", B_AT, volume=30))}, later) == [ZONE]


def test_version_grows_even_when_the_clock_goes_back(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A,)})
    earlier = NOW - timedelta(hours=1)
    assert sync(d, {ZONE: (B,)}, earlier) == [ZONE]
    assert store.rows[ZONE][0] == p.timeline_version(NOW) + 1


def test_a_target_that_lost_its_items_gets_one_empty_timeline(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A,), DEVICE: (B,)})
    later = NOW + timedelta(minutes=1)
    # Cancelled: the zone is gone from `desired`, the device is there with nothing.
    assert sync(d, {DEVICE: ()}, later) == [DEVICE, ZONE]
    for _, payload, retain in bus.published[2:]:
        assert retain
        assert timeline(keys, payload, later).items == ()
    assert sync(d, {DEVICE: ()}, later + timedelta(minutes=1)) == []
    assert sync(d, {}, later + timedelta(minutes=2)) == []


def test_a_listable_store_lets_a_restarted_server_empty_vanished_targets(
    keys: ServerKeys,
) -> None:
    store = ListableStore()
    sync(Dispatcher(FakeBus(), keys, TOPICS, store), {ZONE: (A,)})
    bus = FakeBus()
    assert sync(Dispatcher(bus, keys, TOPICS, store), {}, NOW + timedelta(minutes=1)) == [ZONE]
    assert timeline(keys, bus.published[0][1]).items == ()


def test_a_target_never_published_and_empty_publishes_nothing(keys: ServerKeys) -> None:
    bus = FakeBus()
    assert sync(Dispatcher(bus, keys, TOPICS, DictStore()), {ZONE: ()}) == []
    assert bus.published == []


def test_unchanged_timeline_is_republished_before_it_expires(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A,)})
    assert sync(d, {ZONE: (A,)}, NOW + HORIZON * 0.7) == []
    refresh_at = NOW + HORIZON * 0.8  # less than a quarter of its validity left
    assert sync(d, {ZONE: (A,)}, refresh_at) == [ZONE]
    refreshed = opened(keys, bus.published[-1][1], refresh_at)
    assert refreshed.expires_at == refresh_at + HORIZON
    # A restarted server knows the age from the stored version (ms since the epoch).
    bus2 = FakeBus()
    restarted = Dispatcher(bus2, keys, TOPICS, store)
    assert sync(restarted, {ZONE: (A,)}, refresh_at + HORIZON * 0.5) == []
    assert sync(restarted, {ZONE: (A,)}, refresh_at + HORIZON * 0.8) == [ZONE]


def test_forget_published_republishes_everything_once(keys: ServerKeys) -> None:
    store = DictStore()
    sync(Dispatcher(FakeBus(), keys, TOPICS, store), {ZONE: (A,), DEVICE: (B,)})
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, store)
    d.forget_published()  # e.g. the embedded broker lost its retained messages
    later = NOW + timedelta(seconds=1)
    assert sync(d, {ZONE: (A,), DEVICE: (B,)}, later) == [DEVICE, ZONE]
    assert sync(d, {ZONE: (A,), DEVICE: (B,)}, later) == []


def test_a_key_rotation_republishes_every_timeline_under_the_new_key(tmp_path: Path) -> None:
    store = DictStore()
    sync(Dispatcher(FakeBus(), ServerKeys.load_or_create(tmp_path), TOPICS, store), {ZONE: (A,)})
    rotated = ServerKeys.rotate(tmp_path)
    bus = FakeBus()
    d = Dispatcher(bus, rotated, TOPICS, store)
    later = NOW + timedelta(seconds=1)
    assert sync(d, {ZONE: (A,)}, later) == [ZONE]
    assert opened(rotated, bus.published[0][1], later).kid == rotated.kid
    assert sync(d, {ZONE: (A,)}, later) == []


def test_a_failed_publish_is_not_recorded_and_is_retried(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    bus.fail_next = PublishTimeout("no PUBACK")
    with pytest.raises(PublishTimeout):
        sync(d, {ZONE: (A,)})
    assert store.get(ZONE) is None
    assert sync(d, {ZONE: (A,)}, NOW + timedelta(seconds=5)) == [ZONE]


def test_a_bad_target_name_fails_before_anything_is_published(keys: ServerKeys) -> None:
    bus = FakeBus()
    with pytest.raises(p.MalformedMessage):
        sync(Dispatcher(bus, keys, TOPICS, DictStore()), {ZONE: (A,), "zone:Bad Name": (A,)})
    assert bus.published == []


def test_horizon_before_now_is_refused(keys: ServerKeys) -> None:
    d = Dispatcher(FakeBus(), keys, TOPICS, DictStore())
    with pytest.raises(ValueError, match="horizon_until"):
        d.sync({ZONE: (A,)}, now=NOW, horizon_until=NOW)


def test_play_command_stays_valid_until_play_at_plus_max_late(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    play_at = NOW + timedelta(hours=1)
    env_id = d.command(ZONE, "play", item("occ-x", play_at, max_late_s=60), now=NOW)
    topic, payload, retain = bus.published[0]
    assert (topic, retain) == ("pa/v1/cmd/zone/vinh-tuong/tan-tien", False)
    env = opened(keys, payload)
    assert env.id == env_id
    assert env.kind == "play"
    assert env.expires_at == play_at + timedelta(seconds=60)


def test_short_commands_expire_after_ten_minutes(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    d.command(DEVICE, "volume", {"volume": 40}, now=NOW)
    d.command(DEVICE, "stop", {}, now=NOW)
    d.command(DEVICE, "ping", {}, now=NOW)
    d.command(DEVICE, "play", {**item("occ-y", NOW).to_wire(), "play_at": None}, now=NOW)
    envs = [opened(keys, payload) for _, payload, _ in bus.published]
    assert [e.kind for e in envs] == ["volume", "stop", "ping", "play"]
    assert all(e.expires_at == NOW + timedelta(minutes=10) for e in envs)
    assert {topic for topic, _, _ in bus.published} == {"pa/v1/cmd/device/loa-01"}
    assert len({e.id for e in envs}) == 4


def test_bad_command_bodies_are_refused_before_publishing(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    with pytest.raises(ValueError):
        d.command(DEVICE, "volume", {"volume": 101}, now=NOW)
    with pytest.raises(ValueError, match="sync"):
        d.command(DEVICE, "timeline", {}, now=NOW)
    assert bus.published == []


def test_fake_bus_delivers_injected_state_and_receipts(tmp_path: Path) -> None:
    bus = FakeBus()
    states: list[p.State] = []
    receipts: list[p.Receipt] = []
    bus.set_handlers(states.append, receipts.append)
    bus.inject_state(b'{"device_id": "loa-01", "online": false}')
    bus.inject_receipt(p.Receipt(device_id="loa-01", occurrence_id="occ-a", type="started", at=NOW))
    assert states[0].online is False
    assert receipts[0].type == "started"
    with pytest.raises(p.MalformedMessage):
        bus.inject_state(b"{}")
