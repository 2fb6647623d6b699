"""Dispatcher: timelines published only when content changes, versions only grow, commands."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import protocol as p
from pa_server.messaging.bus import FakeBus, PublishTimeout
from pa_server.messaging.dispatch import DictPublishedStore, Dispatcher, content_hash
from pa_server.messaging.signing import ServerKeys

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
HORIZON = timedelta(hours=48)
TOPICS = p.Topics(prefix="pa/v2")
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


DictStore = DictPublishedStore


def stored(store: DictPublishedStore, target: str) -> tuple[int, str]:
    row = store.rows[target]
    return row.version, row.content_hash


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
        "pa/v2/timeline/zone/vinh-tuong/tan-tien",
        "pa/v2/timeline/device/loa-01",
    }
    env = opened(keys, retained["pa/v2/timeline/zone/vinh-tuong/tan-tien"])
    assert env.kind == "timeline"
    assert env.expires_at >= NOW + HORIZON  # PROTOCOL: expires_at no earlier than horizon_until
    body = env.body
    assert isinstance(body, p.TimelineBody)
    assert body.target == ZONE
    assert body.version == p.timeline_version(NOW)
    assert body.horizon_until == NOW + HORIZON
    assert [i.occurrence_id for i in body.items] == ["occ-a", "occ-b"]  # ordered by play_at
    assert stored(store, ZONE) == (body.version, content_hash((A, B), keys.kid))


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
    assert store.rows[ZONE].version == p.timeline_version(NOW) + 1
    # ... and it is still the envelope's issued_at in ms, so agents accept it.
    assert timeline(keys, bus.published[-1][1]).version == p.timeline_version(NOW) + 1


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
    store = DictStore()
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
    assert (topic, retain) == ("pa/v2/cmd/zone/vinh-tuong/tan-tien", False)
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
    assert {topic for topic, _, _ in bus.published} == {"pa/v2/cmd/device/loa-01"}
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


# --------------------------------------------------------------------------- protocol v2


def test_every_envelope_names_the_target_of_its_topic(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    sync(d, {ZONE: (A,), DEVICE: (B,), "zone:vinh-tuong": (A, B)})
    d.command(ZONE, "play", item("occ-p", NOW + timedelta(minutes=1)), now=NOW)
    d.command(DEVICE, "volume", {"volume": 30}, now=NOW)
    d.command("zone:vinh-tuong", "ping", {}, now=NOW)
    d.command(DEVICE, "stop", p.StopBody(target=DEVICE), now=NOW)
    assert len(bus.published) == 7
    for topic, payload, _ in bus.published:
        env = opened(keys, payload)
        # The topic is exactly the one of the target the body names (what agents check).
        p.check_delivery(env, topic, topics=TOPICS, listens=[env.target])
        if env.kind == "timeline":
            assert isinstance(env.body, p.TimelineBody)
            assert env.body.version == p.instant_ms(env.issued_at)


def test_a_body_addressed_to_another_target_is_refused(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    with pytest.raises(ValueError, match="addressed to"):
        d.command(ZONE, "volume", p.VolumeBody(target=DEVICE, volume=3), now=NOW)
    with pytest.raises(ValueError, match="addressed to"):
        d.command(ZONE, "stop", {"target": DEVICE}, now=NOW)
    assert bus.published == []


def test_two_publishes_in_the_same_millisecond_still_grow_the_version(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    d = Dispatcher(bus, keys, TOPICS, store)
    sync(d, {ZONE: (A,)})
    sync(d, {ZONE: (A, B)})  # same `now`: same millisecond
    sync(d, {ZONE: (B,)}, NOW + timedelta(microseconds=300))  # still the same millisecond
    versions = [timeline(keys, payload).version for _, payload, _ in bus.published]
    assert versions == [p.instant_ms(NOW), p.instant_ms(NOW) + 1, p.instant_ms(NOW) + 2]


def test_versions_grow_across_a_restart_with_the_store_restored_to_an_older_copy(
    keys: ServerKeys,
) -> None:
    store = DictStore()
    first = Dispatcher(FakeBus(), keys, TOPICS, store)
    sync(first, {ZONE: (A,)})
    backup = DictStore()
    backup.rows = dict(store.rows)  # the database backup, taken now
    later = NOW + timedelta(hours=1)
    sync(first, {ZONE: (A, B)}, later)
    newest = store.rows[ZONE].version
    # Restored from the backup: the store forgets v(later); the clock does not.
    bus = FakeBus()
    restarted = Dispatcher(bus, keys, TOPICS, backup)
    again = later + timedelta(seconds=30)
    assert sync(restarted, {ZONE: (A, B)}, again) == [ZONE]
    assert timeline(keys, bus.published[0][1], again).version > newest


def big_item(n: int, play_at: datetime) -> p.Item:
    # A long Vietnamese title and media URL: ~3 KB per item, so 150 exceed 256 KiB.
    return item(
        f"occ-{n:03d}",
        play_at,
        title=("Thông báo khẩn về phòng chống lụt bão ở thôn Tân Tiến " * 6)[:300],
        media={
            "url": "http://pa.example.vn/media/" + "x" * 1500 + f"{n}.mp3",
            "sha256": SHA,
            "bytes": 1000,
            "duration_ms": 60_000,
        },
    )


def test_a_timeline_over_the_size_limit_keeps_its_nearest_items(
    keys: ServerKeys, caplog: pytest.LogCaptureFixture
) -> None:
    bus, store = FakeBus(), DictStore()
    cuts: list[tuple[str, int, int]] = []
    d = Dispatcher(bus, keys, TOPICS, store, on_cut=lambda *a: cuts.append(a))
    plays = [big_item(n, NOW + timedelta(minutes=10 + 15 * n)) for n in range(150)]
    full = len(p.canonical_json([i.to_wire() for i in plays]))
    assert full > p.MAX_ENVELOPE_BYTES  # the plan really is too big for one envelope
    with caplog.at_level(logging.WARNING, logger="pa_server.messaging.dispatch"):
        assert sync(d, {ZONE: tuple(reversed(plays))}) == [ZONE]
    payload = bus.published[0][1]
    assert p.envelope_fits(payload)
    body = timeline(keys, payload)
    kept = len(body.items)
    assert 0 < kept < 150
    assert [i.occurrence_id for i in body.items] == [f"occ-{n:03d}" for n in range(kept)]
    # The plan is complete only until the first item left out.
    assert body.horizon_until == plays[kept].play_at
    # As large as fits: one more item would not.
    one_more = p.TimelineBody(
        target=ZONE,
        version=body.version,
        horizon_until=NOW + HORIZON,
        items=tuple(plays[: kept + 1]),
    )
    assert (
        len(keys.sign("timeline", one_more, now=NOW, expires_at=NOW + HORIZON))
        > p.MAX_ENVELOPE_BYTES
    )
    assert cuts == [(ZONE, kept, 150 - kept)]
    assert store.rows[ZONE].items_cut == 150 - kept
    assert any(
        ZONE in r.getMessage() and f"cut {150 - kept}" in r.getMessage() for r in caplog.records
    )
    # Unchanged plan: not cut and republished again every tick.
    assert sync(d, {ZONE: tuple(plays)}, NOW + timedelta(minutes=1)) == []


def test_republish_current_sends_the_stored_envelopes_as_they_were(keys: ServerKeys) -> None:
    store = DictStore()
    first = FakeBus()
    sync(Dispatcher(first, keys, TOPICS, store), {ZONE: (A,), DEVICE: (B,)})
    bus = FakeBus()
    republished: list[tuple[str, int]] = []
    d = Dispatcher(bus, keys, TOPICS, store, on_republish=lambda *a: republished.append(a))
    assert d.republish_current(NOW + timedelta(minutes=1)) == [DEVICE, ZONE]
    assert bus.retained() == first.retained()  # byte for byte: same ids, same versions
    assert republished == [("reconnect", 2)]
    # Expired ones are not resent as they were; the next sync signs them afresh.
    bus.published.clear()
    assert d.republish_current(NOW + HORIZON + timedelta(seconds=1)) == []
    assert sync(d, {ZONE: (A,), DEVICE: (B,)}, NOW + HORIZON + timedelta(seconds=1)) == [
        DEVICE,
        ZONE,
    ]


def test_check_retained_restores_missing_and_different_timelines(keys: ServerKeys) -> None:
    bus, store = FakeBus(), DictStore()
    reasons: list[tuple[str, int]] = []
    d = Dispatcher(bus, keys, TOPICS, store, on_republish=lambda *a: reasons.append(a))
    sync(d, {ZONE: (A,), DEVICE: (B,), "zone:vinh-tuong": (A,)})
    good = bus.retained()
    assert d.check_retained(good, NOW) == []
    # Someone cleared one retained timeline and re-retained an old copy of another.
    bus.publish(TOPICS.timeline_for(DEVICE), b"", retain=True)
    bus.publish(TOPICS.timeline_for(ZONE), b'{"old": 1}', retain=True)
    held = bus.retained(f"{TOPICS.prefix}/timeline/#")
    assert TOPICS.timeline_for(DEVICE) not in held
    assert d.check_retained(held, NOW) == [DEVICE, ZONE]
    assert bus.retained() == good
    assert reasons == [("missing", 1), ("differs", 1)]


def test_stop_reaches_every_target_of_a_broadcast(keys: ServerKeys) -> None:
    bus = FakeBus()
    d = Dispatcher(bus, keys, TOPICS, DictStore())
    zones = ["zone:a/x", "zone:a/y", "zone:b"]
    assert d.stop("occ-1", [*zones, "zone:a/x"], now=NOW) == zones
    assert [t for t, _, _ in bus.published] == [TOPICS.cmd_for(z) for z in zones]
    for (topic, payload, retain), target in zip(bus.published, zones, strict=True):
        env = opened(keys, payload)
        assert (env.kind, env.target, retain) == ("stop", target, False)
        assert isinstance(env.body, p.StopBody) and env.body.occurrence_id == "occ-1"
        p.check_delivery(env, topic, topics=TOPICS, listens=[target])
