"""The wire contract: envelopes, signatures, topics, payload parsing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices import protocol as p

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}
SHA = "ab" * 32
ITEM = {
    "occurrence_id": "occ-1",
    "title": "Cài đặt Bluezone",
    "play_at": "2026-11-29T23:00:00Z",
    "max_late_s": 120,
    "priority": 50,
    "volume": 80,
    "media": {
        "url": f"http://server:8000/media/{SHA}.mp3",
        "sha256": SHA,
        "bytes": 241233,
        "duration_ms": 61480,
        "mime": "audio/mpeg",
    },
}


def timeline(version: int | None = None, **over: object) -> bytes:
    now = over.get("now", NOW)
    assert isinstance(now, datetime)
    body = {
        "target": "zone:vinh-tuong/tan-tien",
        "version": p.instant_ms(now) if version is None else version,
        "horizon_until": "2026-11-30T05:00:00Z",
        "items": [ITEM],
    }
    kw: dict[str, object] = {
        "key": KEY,
        "kid": "k1",
        "now": NOW,
        "expires_at": NOW + timedelta(hours=48),
    }
    kw.update(over)
    return p.sign_envelope("timeline", body, **kw)  # type: ignore[arg-type]


def sign_raw(obj: dict[str, object]) -> bytes:
    """Sign any object with KEY, skipping every check `sign_envelope` makes (a stolen key)."""
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    sig = base64.b64encode(KEY.sign(p.canonical_json(unsigned))).decode()
    return p.canonical_json({**unsigned, "sig": sig})


def test_signed_timeline_round_trips_with_vietnamese_text_unescaped() -> None:
    raw = timeline()
    assert "Cài đặt Bluezone".encode() in raw  # non-ASCII left as is
    env = p.open_envelope(raw, keys=KEYS, now=NOW)
    assert isinstance(env.body, p.TimelineBody)
    assert env.body.items[0].play_at == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert p.require_media(env.body.items[0]).sha256 == SHA
    assert env.target == "zone:vinh-tuong/tan-tien"
    assert env.body.version == p.instant_ms(env.issued_at)


def test_signature_covers_canonical_form_a_plain_client_can_recompute() -> None:
    obj = json.loads(timeline())
    sig = base64.b64decode(obj.pop("sig"))
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    KEY.public_key().verify(sig, canonical.encode())  # raises if not


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda o: o.pop("sig"), p.BadSignature),
        (lambda o: o.update(sig=base64.b64encode(b"x" * 64).decode()), p.BadSignature),
        (lambda o: o.update(kid="k9"), p.BadSignature),
        (lambda o: o["body"].update(version=99), p.BadSignature),
        (lambda o: o.update(v=3), p.UnsupportedVersion),
    ],
)
def test_tampered_envelopes_are_refused(mutate: object, error: type[Exception]) -> None:
    obj = json.loads(timeline())
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(error):
        p.open_envelope(json.dumps(obj).encode(), keys=KEYS, now=NOW)


def test_forged_with_another_key_is_refused() -> None:
    raw = timeline(key=Ed25519PrivateKey.generate())
    with pytest.raises(p.BadSignature):
        p.open_envelope(raw, keys=KEYS, now=NOW)


def test_expired_and_future_issued_are_refused() -> None:
    with pytest.raises(p.Expired):
        p.open_envelope(timeline(), keys=KEYS, now=NOW + timedelta(hours=49))
    with pytest.raises(p.Expired):
        p.open_envelope(timeline(now=NOW + timedelta(hours=1)), keys=KEYS, now=NOW)


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"[1,2]", b"{}", b"\xff\xfe", b"{" * 10, b"x" * 300_000]
)
def test_garbage_is_malformed_never_another_exception(payload: bytes) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.open_envelope(payload, keys=KEYS, now=NOW)
    assert info.value.reason == "malformed"


def test_signed_but_badly_shaped_body_is_malformed() -> None:
    bad_item = {
        **ITEM,
        "target": "device:loa-01",
        "media": {**ITEM["media"], "url": "file:///etc/passwd"},
    }  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="http"):
        p.sign_envelope(
            "play", bad_item, key=KEY, kid="k1", now=NOW, expires_at=NOW + timedelta(minutes=5)
        )


def test_replay_window_refuses_second_sight_and_survives_serialisation() -> None:
    env = p.open_envelope(timeline(), keys=KEYS, now=NOW)
    window = p.ReplayWindow()
    window.check_and_add(env, NOW)
    restored = p.ReplayWindow.from_json(json.loads(json.dumps(window.to_json())))
    with pytest.raises(p.Replayed):
        restored.check_and_add(env, NOW)
    restored.prune(NOW + timedelta(hours=49))
    assert len(restored) == 0


def test_topics_build_and_parse() -> None:
    t = p.Topics()
    assert t.prefix == "pa/v2"
    assert t.agent_subscriptions("loa-01", "vinh-tuong/tan-tien") == [
        "pa/v2/cmd/device/loa-01",
        "pa/v2/timeline/device/loa-01",
        "pa/v2/cmd/zone/vinh-tuong",
        "pa/v2/timeline/zone/vinh-tuong",
        "pa/v2/cmd/zone/vinh-tuong/tan-tien",
        "pa/v2/timeline/zone/vinh-tuong/tan-tien",
    ]
    assert t.parse("pa/v2/event/loa-01") == p.ParsedTopic("event", "device:loa-01")
    assert t.parse("pa/v2/timeline/zone/a/b") == p.ParsedTopic("timeline", "zone:a/b")
    for bad in ["pa/v2/state/LOA", "pa/v1/state/x", "pa/v2/cmd/zone/a/b/c/d/e/f/g", "pa/v2/x/y"]:
        with pytest.raises(p.MalformedMessage):
            t.parse(bad)


def test_state_and_receipt_parsing() -> None:
    r = p.parse_receipt(
        b'{"device_id":"loa-01","occurrence_id":"o","type":"started",'
        b'"at":"2026-11-28T05:00:00.004Z","late_ms":4,"detail":null}'
    )
    assert r.late_ms == 4 and r.at.microsecond == 4000
    assert p.parse_state(p.offline_state("loa-01")).online is False
    for bad in [
        b'{"device_id":"loa-01","occurrence_id":"o","type":"exploded","at":"2026-11-28T05:00:00Z"}',
        b'{"device_id":"loa-01","occurrence_id":"o","type":"started","at":"2026-11-28T05:00:00"}',
        b'{"device_id":"../x","online":true}',
        b'{"device_id":"loa-01","online":true,"extra":1}',
    ]:
        with pytest.raises(p.MalformedMessage):
            (p.parse_receipt if b"occurrence" in bad else p.parse_state)(bad)


def test_timeline_version_only_grows() -> None:
    assert p.timeline_version(NOW + timedelta(milliseconds=1)) > p.timeline_version(NOW)


# --------------------------------------------------------------------------- v2


def envelope_obj(kind: str, body: dict[str, object], **over: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "v": 2,
        "id": "e" * 32,
        "kind": kind,
        "issued_at": "2026-11-28T05:00:00Z",
        "expires_at": "2026-11-30T05:00:00Z",
        "kid": "k1",
        "body": body,
    }
    obj.update(over)
    return obj


def test_v1_envelope_is_refused_with_a_clear_reason() -> None:
    obj = json.loads(timeline())
    obj["v"] = 1
    with pytest.raises(p.UnsupportedVersion, match=r"v1 envelope refused.*speaks v2") as info:
        p.open_envelope(sign_raw(obj), keys=KEYS, now=NOW)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("kind", ["play", "stop", "volume", "ping", "timeline"])
def test_every_body_needs_a_valid_target(kind: str) -> None:
    body = json.loads(timeline())["body"] if kind == "timeline" else {}
    if kind == "play":
        body = dict(ITEM)
    elif kind == "volume":
        body = {"volume": 40}
    body.pop("target", None)
    with pytest.raises(p.MalformedMessage, match="target"):
        p.open_envelope(sign_raw(envelope_obj(kind, body)), keys=KEYS, now=NOW)
    body["target"] = "zone:../etc"
    with pytest.raises(p.MalformedMessage, match="target"):
        p.open_envelope(sign_raw(envelope_obj(kind, body)), keys=KEYS, now=NOW)


def test_parse_returns_the_target_of_each_kind() -> None:
    item = p.Item.model_validate(ITEM)
    bodies: list[p.Body] = [
        p.PlayBody.of("zone:vinh-tuong", item),
        p.StopBody(target="device:loa-01", occurrence_id="occ-1"),
        p.VolumeBody(target="zone:vinh-tuong/tan-tien", volume=30),
        p.PingBody(target="device:loa-02"),
    ]
    for body in bodies:
        kind = next(k for k, m in p.BODY_MODELS.items() if type(body) is m)
        raw = p.sign_envelope(
            kind,  # type: ignore[arg-type]
            body,
            key=KEY,
            kid="k1",
            now=NOW,
            expires_at=NOW + timedelta(minutes=5),
        )
        assert p.open_envelope(raw, keys=KEYS, now=NOW).target == body.target
    assert p.PlayBody.of("zone:x", item).item() == item


def test_a_zones_play_replayed_on_another_zones_topic_is_misdirected() -> None:
    """The v1 hole: a captured command for zone A, re-published on zone B's topic, played there."""
    t = p.Topics()
    play = p.PlayBody.of("zone:vinh-tuong/tan-tien", p.Item.model_validate(ITEM))
    raw = p.sign_envelope(
        "play", play, key=KEY, kid="k1", now=NOW, expires_at=NOW + timedelta(minutes=5)
    )
    env = p.open_envelope(raw, keys=KEYS, now=NOW)
    # An agent in zone B: A's play is not for it, whatever topic it arrives on.
    in_b = p.listened_targets("loa-09", "vinh-tuong/tan-hoa")
    with pytest.raises(p.Misdirected) as info:
        p.check_delivery(env, t.cmd_zone("vinh-tuong/tan-hoa"), topics=t, listens=in_b)
    assert info.value.reason == "misdirected"
    # An agent in zone A below: accepted on A's own cmd topic only.
    in_a = p.listened_targets("loa-01", "vinh-tuong/tan-tien/thon-1")
    p.check_delivery(env, t.cmd_zone("vinh-tuong/tan-tien"), topics=t, listens=in_a)
    for wrong in [
        t.cmd_zone("vinh-tuong"),
        t.cmd_zone("vinh-tuong/tan-tien/thon-1"),
        t.timeline_zone("vinh-tuong/tan-tien"),
        t.cmd_device("loa-01"),
    ]:
        with pytest.raises(p.Misdirected):
            p.check_delivery(env, wrong, topics=t, listens=in_a)
    # A timeline belongs on its target's timeline topic, not its cmd topic.
    tl = p.open_envelope(timeline(), keys=KEYS, now=NOW)
    p.check_delivery(tl, t.timeline_zone("vinh-tuong/tan-tien"), topics=t, listens=in_a)
    with pytest.raises(p.Misdirected):
        p.check_delivery(tl, t.cmd_zone("vinh-tuong/tan-tien"), topics=t, listens=in_a)


def test_timeline_version_must_be_its_issue_instant_in_ms() -> None:
    """The v1 hole: a stolen key minted version 10**15 and blocked every later timeline."""
    obj = json.loads(timeline())
    obj["body"]["version"] = 10**15
    with pytest.raises(p.MalformedMessage, match="issued_at in ms"):
        p.open_envelope(sign_raw(obj), keys=KEYS, now=NOW)
    # The server-side builder refuses to make one either.
    with pytest.raises(ValueError, match="issued_at in ms"):
        timeline(version=p.instant_ms(NOW) + 1)
    # And a version from the future needs an issued_at from the future: refused as expired.
    ahead = NOW + timedelta(minutes=5, seconds=1)
    with pytest.raises(p.Expired):
        p.open_envelope(timeline(now=ahead), keys=KEYS, now=NOW)
    p.open_envelope(timeline(now=NOW + timedelta(minutes=5)), keys=KEYS, now=NOW)


def test_versions_carry_milliseconds_exactly() -> None:
    now = datetime(2026, 11, 28, 5, 0, 0, 123_999, tzinfo=UTC)
    raw = p.sign_timeline(
        "device:loa-01",
        [],
        horizon_until=now + timedelta(hours=1),
        key=KEY,
        kid="k1",
        now=now,
    )
    env = p.open_envelope(raw, keys=KEYS, now=now)
    assert isinstance(env.body, p.TimelineBody)
    assert env.body.version == p.instant_ms(now) == 1_795_842_000_123
    assert env.issued_at == p.truncate_ms(now)
    assert env.expires_at >= env.body.horizon_until


def test_timeline_expiring_before_its_horizon_is_malformed() -> None:
    obj = json.loads(timeline())
    obj["expires_at"] = "2026-11-30T04:59:59Z"  # horizon_until is 05:00
    with pytest.raises(p.MalformedMessage, match="horizon"):
        p.open_envelope(sign_raw(obj), keys=KEYS, now=NOW)
    with pytest.raises(ValueError, match="horizon"):
        timeline(expires_at=NOW + timedelta(hours=1))


def test_envelope_size_limit_is_named_and_checked() -> None:
    assert p.MAX_ENVELOPE_BYTES == 256 * 1024
    assert p.envelope_fits(b"x" * p.MAX_ENVELOPE_BYTES)
    assert not p.envelope_fits(b"x" * (p.MAX_ENVELOPE_BYTES + 1))
    with pytest.raises(p.MalformedMessage, match="exceeds"):
        p.open_envelope(b"{" + b" " * p.MAX_ENVELOPE_BYTES + b"}", keys=KEYS, now=NOW)


LIVE = {
    "occurrence_id": "vov-1",
    "title": "Tiếp sóng VOV1",
    "play_at": "2026-11-29T23:00:00Z",
    "until": "2026-11-29T23:30:00Z",
    "max_late_s": 600,
    "priority": 50,
    "volume": 80,
    "live": {"engine": "snapcast", "host": "pa.example.vn", "port": 1704, "stream": "relay-vov1"},
}


def test_live_item_parses() -> None:
    item = p.Item.model_validate(LIVE)
    assert item.is_live and item.media is None and item.live is not None
    assert item.live.port == 1704
    assert item.until == datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    with pytest.raises(p.MalformedMessage, match="live"):
        p.require_media(item)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"media": ITEM["media"]}, "exactly one"),
        ({"live": None}, "exactly one"),
        ({"until": None}, "needs until"),
        ({"until": "2026-11-29T23:00:00Z"}, "after its play_at"),
        ({"live": {**LIVE["live"], "engine": "icecast"}}, "snapcast"),  # type: ignore[dict-item]
        ({"live": {**LIVE["live"], "port": 0}}, "greater than"),  # type: ignore[dict-item]
        ({"live": {**LIVE["live"], "host": "http://x"}}, "host"),  # type: ignore[dict-item]
        ({"live": {**LIVE["live"], "stream": "a b"}}, "stream"),  # type: ignore[dict-item]
    ],
)
def test_live_item_is_validated(change: dict[str, object], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        p.Item.model_validate({**LIVE, **change})


def test_until_belongs_to_live_items_only() -> None:
    with pytest.raises(ValueError, match="live items only"):
        p.Item.model_validate({**ITEM, "until": "2026-11-30T00:00:00Z"})


def test_rejection_counters_include_misdirected() -> None:
    assert "misdirected" in p.REJECTION_REASONS
    assert p.Rejected(misdirected=3).to_wire()["misdirected"] == 3


def test_levels_and_priorities_are_defined_once_here() -> None:
    assert dict(p.LEVEL_PRIORITY) == {"normal": 50, "priority": 80, "emergency": 100}
    assert p.EMERGENCY_PRIORITY == p.LEVEL_PRIORITY["emergency"] == 100
    assert set(p.LEVELS) == set(p.LEVEL_PRIORITY)


def test_names_are_typed_and_listened_targets_cover_ancestors() -> None:
    assert p.validate_device_id("loa-01") == p.DeviceId("loa-01")
    assert p.zone_ancestors("a/b") == [p.ZonePath("a"), p.ZonePath("a/b")]
    assert p.listened_targets("loa-01", "a/b") == ["zone:a", "zone:a/b", "device:loa-01"]
