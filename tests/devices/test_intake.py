"""Envelope intake alone: what it refuses (counted by reason by the agent), what it remembers,
and how a restart re-verifies what was stored against the keys configured then."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices import protocol
from devices.intake import Intake, SeenIds
from tests.devices.support import (
    DEVICE,
    PREFIX,
    ZONE,
    FakeServer,
    Signer,
    T,
    item,
    play_body,
    raw_envelope,
    sign_raw,
)

MEDIA = FakeServer().put(b"sound" * 50)


def make_intake(*signers: Signer) -> Intake:
    return Intake(
        device_id=DEVICE,
        zone=ZONE,
        topics=protocol.Topics(PREFIX),
        keys={s.kid: protocol.load_public_key_b64(s.public_b64) for s in signers},
    )


def refusal(intake: Intake, topic: str, payload: bytes) -> str | None:
    """The rejection reason for one delivery, or None when it was accepted."""
    try:
        intake.receive(topic, payload, protocol.utc_now())
    except protocol.ProtocolError as exc:
        return exc.reason
    return None


def test_bad_messages_are_refused_by_reason() -> None:
    signer = Signer()
    intake = make_intake(signer)
    good = play_body(MEDIA)
    other = Ed25519PrivateKey.generate()
    cmd = T.cmd_device(DEVICE)
    cases: list[tuple[str, bytes, str]] = [
        ("forged (another key)", sign_raw(other, raw_envelope("play", good)), "signature"),
        ("unsigned", protocol.canonical_json(raw_envelope("play", good)), "signature"),
        ("unknown key id", sign_raw(signer.key, raw_envelope("play", good, kid="k9")), "signature"),
        (
            "expired",
            signer.sign(
                "play", good, now=protocol.utc_now() - timedelta(hours=3), ttl=timedelta(hours=1)
            ),
            "expired",
        ),
        (
            "issued 10 minutes ahead",
            signer.sign("play", good, now=protocol.utc_now() + timedelta(minutes=10)),
            "expired",
        ),
        ("oversized", b"{" + b" " * (protocol.MAX_MESSAGE_BYTES + 1) + b"}", "malformed"),
        ("non-JSON", b"\xff\xfe not json", "malformed"),
        ("a JSON array", b"[1, 2]", "malformed"),
        (
            "wrong field type",
            sign_raw(
                signer.key,
                raw_envelope("volume", {"target": f"device:{DEVICE}", "volume": "loud"}),
            ),
            "malformed",
        ),
        ("unknown kind", sign_raw(signer.key, raw_envelope("selfdestruct", {})), "malformed"),
        ("a v1 envelope", sign_raw(signer.key, raw_envelope("play", good, v=1)), "malformed"),
        (
            "media url not http",
            sign_raw(
                signer.key,
                raw_envelope(
                    "play", play_body(MEDIA, media={**MEDIA.to_wire(), "url": "file:///etc/shadow"})
                ),
            ),
            "malformed",
        ),
        (
            "no target",
            sign_raw(signer.key, raw_envelope("ping", {})),
            "malformed",
        ),
    ]
    for what, payload, reason in cases:
        assert refusal(intake, cmd, payload) == reason, what
    ok = signer.sign("play", good)
    assert refusal(intake, cmd, ok) is None
    assert refusal(intake, cmd, ok) == "replayed"


def test_a_v1_envelope_is_refused_with_a_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    signer = Signer()
    intake = make_intake(signer)
    payload = sign_raw(signer.key, raw_envelope("ping", {"target": f"device:{DEVICE}"}, v=1))
    assert refusal(intake, T.cmd_device(DEVICE), payload) == "malformed"
    assert any("v1" in r.getMessage() and "v2" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("target", "topic"),
    [
        # A zone's play republished on another zone's topic, and on another device's.
        ("zone:huyen/xa/thon-2", T.cmd_zone("huyen/xa/thon-2")),
        ("zone:huyen/xa/thon-1", T.cmd_zone("huyen/xa")),
        ("zone:huyen/xa/thon-1", T.cmd_device("loa-02")),
        ("zone:huyen/xa/thon-1", T.cmd_device(DEVICE)),
        # Another device's command on ours, or on our zone's.
        ("device:loa-02", T.cmd_device(DEVICE)),
        ("device:loa-02", T.cmd_zone("huyen")),
        # A command on a timeline topic.
        ("zone:huyen", T.timeline_zone("huyen")),
        # A zone below ours is not for us, whatever the topic.
        ("zone:huyen/xa/thon-1/xom-a", T.cmd_zone("huyen/xa/thon-1/xom-a")),
        # State and event topics are not for agents.
        (f"device:{DEVICE}", T.state(DEVICE)),
    ],
)
def test_a_command_is_taken_only_for_us_and_only_on_its_targets_topic(
    target: str, topic: str
) -> None:
    signer = Signer()
    intake = make_intake(signer)
    assert refusal(intake, topic, signer.sign("play", play_body(MEDIA, target=target))) == (
        "misdirected"
    )
    # The same command on its own topic, when it is for us, is taken.
    if target in intake.listens:
        right = T.cmd_for(target)
        assert refusal(intake, right, signer.sign("play", play_body(MEDIA, target=target))) is None


def test_a_captured_volume_replayed_on_a_parent_zone_topic_is_misdirected() -> None:
    signer = Signer()
    intake = make_intake(signer)
    captured = signer.sign("volume", {"target": "zone:huyen/xa/thon-1", "volume": 3})
    assert refusal(intake, T.cmd_zone("huyen/xa/thon-1"), captured) is None
    assert refusal(intake, T.cmd_zone("huyen/xa"), captured) == "misdirected"
    assert refusal(intake, T.cmd_zone("huyen/xa/thon-1"), captured) == "replayed"


def test_timeline_versions_only_grow_and_the_same_one_again_is_not_an_attack() -> None:
    signer = Signer()
    intake = make_intake(signer)
    target, topic = "zone:huyen/xa", T.timeline_zone("huyen/xa")
    now = protocol.utc_now()
    far = now + timedelta(hours=1)
    v1 = signer.timeline(target, [item(MEDIA, far, occurrence_id="old")], now=now)
    v2 = signer.timeline(
        target, [item(MEDIA, far, occurrence_id="new")], now=now + timedelta(seconds=1)
    )
    assert refusal(intake, topic, v2) is None
    assert intake.receive(topic, v2, protocol.utc_now()) is None  # the retained copy again
    assert refusal(intake, topic, v1) == "replayed"  # an older timeline replayed at us
    # The current one pulled over HTTP is simply known; the old one pulled is refused too.
    assert intake.receive_pulled(protocol.loads_object(v2), protocol.utc_now()) is None
    with pytest.raises(protocol.Replayed):
        intake.receive_pulled(protocol.loads_object(v1), protocol.utc_now())
    assert intake.versions() == {target: protocol.instant_ms(protocol.truncate_ms(now)) + 1000}


def test_a_timeline_moved_to_another_targets_topic_is_misdirected() -> None:
    signer = Signer()
    intake = make_intake(signer)
    soon = protocol.utc_now() + timedelta(hours=1)
    for_other_zone = signer.timeline("zone:huyen/other", [item(MEDIA, soon)])
    ours = signer.timeline("zone:huyen", [item(MEDIA, soon)])
    assert refusal(intake, T.timeline_zone("huyen/xa"), for_other_zone) == "misdirected"
    assert refusal(intake, T.timeline_zone("huyen/other"), for_other_zone) == "misdirected"
    assert refusal(intake, T.cmd_zone("huyen"), ours) == "misdirected"  # on a command topic
    assert refusal(intake, T.timeline_zone("huyen/xa"), ours) == "misdirected"
    assert refusal(intake, "elsewhere/timeline/zone/huyen", ours) == "malformed"
    assert intake.timelines == {}


def test_a_pulled_timeline_goes_through_the_same_checks() -> None:
    signer, attacker = Signer(), Signer()
    intake = make_intake(signer)
    now = protocol.utc_now()
    soon = now + timedelta(hours=1)
    cases: list[tuple[Any, type[protocol.ProtocolError]]] = [
        ([], protocol.MalformedMessage),
        (protocol.loads_object(attacker.timeline("zone:huyen", [])), protocol.BadSignature),
        (
            protocol.loads_object(signer.timeline("zone:other", [item(MEDIA, soon)])),
            protocol.Misdirected,
        ),
        (
            protocol.loads_object(signer.sign("play", play_body(MEDIA))),
            protocol.MalformedMessage,
        ),
    ]
    for obj, error in cases:
        with pytest.raises(error):
            intake.receive_pulled(obj, now)
    env = intake.receive_pulled(protocol.loads_object(signer.timeline("zone:huyen", [])), now)
    assert env is not None and env.target == "zone:huyen"


def test_an_empty_retained_payload_is_no_message_and_no_rejection() -> None:
    intake = make_intake(Signer())
    assert intake.receive(T.timeline_zone("huyen"), b"", protocol.utc_now()) is None
    assert refusal(intake, T.cmd_zone("huyen"), b"") == "malformed"


def test_restore_forgets_what_a_removed_key_signed_with_its_version() -> None:
    old, new = Signer("k-old"), Signer("k-new")
    before = make_intake(old, new)
    now = protocol.utc_now()
    soon = now + timedelta(hours=1)
    # A stolen key mints a timeline 4 minutes ahead (the most the bound allows).
    stolen = old.timeline(
        "zone:huyen", [item(MEDIA, soon, occurrence_id="evil")], now=now + timedelta(minutes=4)
    )
    ours = new.timeline("device:loa-01", [item(MEDIA, soon, occurrence_id="mine")], now=now)
    play_at = play_body(MEDIA, occurrence_id="held", play_at=protocol.format_instant(soon))
    held_by_old = old.sign("play", play_at)
    held_by_new = new.sign("play", {**play_at, "occurrence_id": "kept"})
    for topic, payload in [
        (T.timeline_zone("huyen"), stolen),
        (T.timeline_device(DEVICE), ours),
        (T.cmd_device(DEVICE), held_by_old),
        (T.cmd_device(DEVICE), held_by_new),
    ]:
        assert refusal(before, topic, payload) is None
    stored, seen = before.snapshot()
    assert len(seen) == 4

    after = make_intake(new)  # the old key removed from the config, agent restarted
    kept = after.restore(
        timelines=stored, commands={"held": held_by_old, "kept": held_by_new}, seen=seen
    )
    assert set(after.timelines) == {"device:loa-01"}
    assert set(kept) == {"kept"}
    assert len(after.seen) == 2  # the ids the old key signed are forgotten too
    # A timeline issued now is older than the stolen one was, and is taken.
    assert refusal(after, T.timeline_zone("huyen"), new.timeline("zone:huyen", [])) is None


def test_restore_checks_a_stored_envelope_as_of_its_issue_not_the_clock_at_boot() -> None:
    signer = Signer()
    intake = make_intake(signer)
    long_ago = protocol.utc_now() - timedelta(days=2)
    old = signer.timeline("zone:huyen", [], now=long_ago)
    tampered = old.replace(b'"zone:huyen"', b'"zone:huyen/xa"')
    kept = intake.restore(
        timelines={"zone:huyen": old, "zone:huyen/xa": tampered}, commands={}, seen=SeenIds()
    )
    assert kept == {}
    assert set(intake.timelines) == {"zone:huyen"}


def test_seen_ids_survive_their_json_form_and_drop_older_shapes() -> None:
    signer = Signer()
    intake = make_intake(signer)
    env = intake.receive(T.cmd_device(DEVICE), signer.sign("ping", {}), protocol.utc_now())
    assert env is not None
    _, seen = intake.snapshot()
    again = SeenIds.from_json({**seen.to_json(), "v1-entry": "2026-11-28T05:00:00Z"})
    assert env.id in again and len(again) == 1
