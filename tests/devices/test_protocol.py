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


def timeline(version: int = 1, **over: object) -> bytes:
    body = {
        "target": "zone:vinh-tuong/tan-tien",
        "version": version,
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


def test_signed_timeline_round_trips_with_vietnamese_text_unescaped() -> None:
    raw = timeline()
    assert "Cài đặt Bluezone".encode() in raw  # non-ASCII left as is
    env = p.open_envelope(raw, keys=KEYS, now=NOW)
    assert isinstance(env.body, p.TimelineBody)
    assert env.body.items[0].play_at == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert env.body.items[0].media.sha256 == SHA


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
        (lambda o: o.update(v=2), p.UnsupportedVersion),
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
    bad_item = {**ITEM, "media": {**ITEM["media"], "url": "file:///etc/passwd"}}  # type: ignore[dict-item]
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
    t = p.Topics("pa/v1")
    assert t.agent_subscriptions("loa-01", "vinh-tuong/tan-tien") == [
        "pa/v1/cmd/device/loa-01",
        "pa/v1/timeline/device/loa-01",
        "pa/v1/cmd/zone/vinh-tuong",
        "pa/v1/timeline/zone/vinh-tuong",
        "pa/v1/cmd/zone/vinh-tuong/tan-tien",
        "pa/v1/timeline/zone/vinh-tuong/tan-tien",
    ]
    assert t.parse("pa/v1/event/loa-01") == p.ParsedTopic("event", "device:loa-01")
    assert t.parse("pa/v1/timeline/zone/a/b") == p.ParsedTopic("timeline", "zone:a/b")
    for bad in ["pa/v1/state/LOA", "pa/v2/state/x", "pa/v1/cmd/zone/a/b/c/d/e/f/g", "pa/v1/x/y"]:
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
