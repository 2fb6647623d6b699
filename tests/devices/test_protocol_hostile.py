"""Hostile input at the wire: whatever bytes arrive, the protocol raises `ProtocolError` or
returns something it verified — never another exception, never an unverified envelope."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from devices import protocol as p

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()  # the attacker's, presented under our kid
KEYS = {"k1": KEY.public_key()}
SHA = "ab" * 32
MEDIA = {"url": f"http://s/media/{SHA}.mp3", "sha256": SHA, "bytes": 1000, "duration_ms": 5000}
ITEM = {"occurrence_id": "occ-1", "title": "Cài đặt Bluezone", "play_at": "2026-11-29T23:00:00Z"}
BODIES: dict[p.Kind, dict[str, Any]] = {
    "timeline": {
        "target": "zone:vinh-tuong/tan-tien",
        "version": p.instant_ms(NOW),
        "horizon_until": "2026-11-30T05:00:00Z",
        "items": [{**ITEM, "media": MEDIA}],
    },
    "play": {**ITEM, "media": MEDIA, "priority": 100, "target": "zone:vinh-tuong"},
    "stop": {"occurrence_id": "occ-1", "target": "device:loa-01"},
    "volume": {"volume": 80, "target": "zone:vinh-tuong/tan-tien"},
    "ping": {"target": "device:loa-01"},
}
VALID: dict[str, bytes] = {
    kind: p.sign_envelope(
        kind, body, key=KEY, kid="k1", now=NOW, expires_at=NOW + timedelta(hours=48)
    )
    for kind, body in BODIES.items()
}
# Hypothesis runs a few hundred cases per property; Ed25519 keeps each well under a millisecond.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

#: Strings that have broken parsers: control characters, lone surrogates, direction overrides,
#: zero-width and look-alike letters, decomposed Vietnamese, and the datetime range's edges.
TRICKY_TEXT = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "\udfff",
        "\u202e",
        "\u200b",
        "\ufeff",
        "k1\u200b",
        "lоa-01",  # Cyrillic о
        "loa-01\n",
        "Cài đặt",
        "Ca\u0300i đa\u0323\u0306t",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-11-28T05:00:00",
        "2026-02-30T00:00:00Z",
        "9" * 5000,
        "NaN",
        "zone:../../etc",
        "device:",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**100, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | TRICKY_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def envelope_shaped(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with (some of) an envelope's keys, each holding anything."""
    keys = ["v", "id", "kind", "issued_at", "expires_at", "kid", "body", "sig"]
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


def sign_raw(obj: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Sign any object the way the server does, skipping every check `sign_envelope` makes."""
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    try:
        signed = p.canonical_json(unsigned)
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: nobody can sign it
        assume(False)
        raise
    return p.canonical_json({**unsigned, "sig": base64.b64encode(key.sign(signed)).decode()})


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --------------------------------------------------------------------------- the property


def assert_only_protocol_errors_or_verified(payload: bytes | str) -> None:
    """`open_envelope` either raises `ProtocolError` or returns what KEY really signed."""
    try:
        env = p.open_envelope(payload, keys=KEYS, now=NOW)
    except p.ProtocolError:
        return
    # Accepted: the signature must verify independently over exactly what was parsed.
    obj = json.loads(payload)
    sig = base64.b64decode(obj.pop("sig"))
    try:
        KEY.public_key().verify(sig, p.canonical_json(obj))
    except InvalidSignature:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"accepted an envelope whose signature does not verify: {payload!r}")
    assert env.kid == "k1"
    assert env.expires_at > NOW


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(payload: bytes) -> None:
    assert_only_protocol_errors_or_verified(payload)


@FUZZ
@given(JSON)
def test_arbitrary_json(value: Any) -> None:
    assert_only_protocol_errors_or_verified(json.dumps(value).encode())


@FUZZ
@given(envelope_shaped(JSON))
def test_envelope_shaped_json(value: dict[str, Any]) -> None:
    assert_only_protocol_errors_or_verified(json.dumps(value).encode())


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.data())
def test_byte_flips_in_a_valid_envelope(kind: str, data: st.DataObject) -> None:
    raw = bytearray(VALID[kind])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    assert_only_protocol_errors_or_verified(bytes(raw))


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.data())
def test_cut_and_spliced_envelopes(kind: str, data: st.DataObject) -> None:
    raw = VALID[kind]
    a = data.draw(st.integers(0, len(raw)))
    b = data.draw(st.integers(a, len(raw)))
    insert = data.draw(st.binary(max_size=16) | st.sampled_from([b"\\u0000", b"\\ud800", b","]))
    assert_only_protocol_errors_or_verified(raw[:a] + insert + raw[b:])


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a JSON value (the places a mutation can hit)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


@FUZZ
@given(
    st.sampled_from(sorted(VALID)),
    st.sampled_from(["drop", "retype", "huge", "nest", "tricky"]),
    st.data(),
)
def test_structural_mutations_keep_the_signature_or_are_refused(
    kind: str, how: str, data: st.DataObject
) -> None:
    obj = json.loads(VALID[kind])
    path = data.draw(st.sampled_from(_paths(obj)))
    parent, key = _parent(obj, path), path[-1]
    if how == "drop":
        del parent[key]
    else:
        replacement: dict[str, st.SearchStrategy[Any]] = {
            "retype": JSON,
            "huge": st.sampled_from([10**30, -(10**30), 1e308, 2**64]),
            "nest": st.integers(1, 500).map(lambda depth: json.loads(_nested(depth))),
            "tricky": TRICKY_TEXT,
        }
        parent[key] = data.draw(replacement[how])
    assert_only_protocol_errors_or_verified(json.dumps(obj, ensure_ascii=data.draw(st.booleans())))


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.sampled_from(["v", "id", "kind", "kid", "sig", "body"]))
def test_duplicate_keys_are_judged_on_what_json_keeps(kind: str, key: str) -> None:
    # JSON keeps the last duplicate; only if that is the signed value may the envelope pass.
    raw = VALID[kind].decode()
    for forged in ('"x"', "2", '{"volume":100}', "null"):
        assert_only_protocol_errors_or_verified("{" + f'"{key}":{forged},' + raw[1:])
        assert_only_protocol_errors_or_verified(raw[:-1] + f',"{key}":{forged}' + "}")


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.data())
def test_validly_signed_by_another_key_under_our_kid_is_refused(
    kind: str, data: st.DataObject
) -> None:
    obj = json.loads(VALID[kind])
    if data.draw(st.booleans()):
        obj["body"] = data.draw(JSON)
    with pytest.raises(p.BadSignature):
        p.open_envelope(sign_raw(obj, OTHER_KEY), keys=KEYS, now=NOW)


@FUZZ
@given(envelope_shaped(JSON), st.sampled_from(sorted(VALID)))
def test_garbage_behind_a_good_signature_is_only_ever_a_protocol_error(
    fields: dict[str, Any], kind: str
) -> None:
    # A server bug (or a stolen key) signs junk: the agent must still only count it, never crash.
    obj = json.loads(VALID[kind])
    obj.update({k: v for k, v in fields.items() if k not in ("sig", "kid", "v")})
    assert_only_protocol_errors_or_verified(sign_raw(obj, KEY))


# --------------------------------------------------------------------------- agent → server


def _assert_parse_only_protocol_errors(payload: bytes) -> None:
    for parse in (p.parse_state, p.parse_receipt):
        try:
            msg = parse(payload)
        except p.ProtocolError:
            continue
        assert p.DEVICE_ID_RE.fullmatch(msg.device_id)


STATE_KEYS = sorted(p.State.model_fields)
RECEIPT_KEYS = sorted(p.Receipt.model_fields)


@FUZZ
@given(st.binary(max_size=1024) | JSON.map(lambda v: json.dumps(v).encode()))
def test_state_and_receipt_parsers_on_anything(payload: bytes) -> None:
    _assert_parse_only_protocol_errors(payload)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(sorted({*STATE_KEYS, *RECEIPT_KEYS})), TRICKY_TEXT | JSON, max_size=8
    ),
    st.sampled_from(["loa-01", "loa-01\n", "LOA", ""]),
)
def test_state_and_receipt_parsers_on_near_valid_objects(
    fields: dict[str, Any], device_id: str
) -> None:
    base: dict[str, Any] = {
        "device_id": device_id,
        "online": True,
        "occurrence_id": "o",
        "type": "started",
        "at": "2026-11-28T05:00:00Z",
    }
    _assert_parse_only_protocol_errors(json.dumps({**base, **fields}).encode())


@FUZZ
@given(st.datetimes(), st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
def test_instants_anywhere_in_the_calendar_parse_or_are_refused(
    dt: datetime, offset: timedelta
) -> None:
    text = dt.replace(tzinfo=timezone(offset)).isoformat()
    state = {"device_id": "loa-01", "online": True, "at": text}
    _assert_parse_only_protocol_errors(json.dumps(state).encode())
    with contextlib.suppress(p.MalformedMessage):
        p.parse_instant(text)


# --------------------------------------------------------------------------- topics

TOPIC_LEVEL = st.sampled_from(["cmd", "timeline", "state", "event", "device", "zone", "", "+", "#"])
TOPICS = p.Topics("pa/v2")
STRICT_TARGET = re.compile(r"(device:[a-z0-9-]{1,64}|zone:[a-z0-9-]+(/[a-z0-9-]+){0,5})")


@FUZZ
@given(
    st.text(max_size=80)
    | st.tuples(TOPIC_LEVEL, TOPIC_LEVEL, TRICKY_TEXT).map(lambda t: "pa/v2/" + "/".join(t))
    | st.tuples(TOPIC_LEVEL, TRICKY_TEXT).map(lambda t: "pa/v2/" + "/".join(t))
    | st.lists(TOPIC_LEVEL | st.text(max_size=10) | TRICKY_TEXT, max_size=9).map(
        lambda levels: "/".join(["pa", "v2", *levels])
    )
)
def test_topic_parsing(topic: str) -> None:
    try:
        parsed = TOPICS.parse(topic)
    except p.MalformedMessage:
        return
    assert STRICT_TARGET.fullmatch(parsed.target), parsed
    # Round trip: what we parsed is exactly the topic we would build for it.
    if parsed.channel in ("cmd", "timeline"):
        rebuilt = (TOPICS.cmd_for if parsed.channel == "cmd" else TOPICS.timeline_for)(
            parsed.target
        )
    else:
        builder = TOPICS.state if parsed.channel == "state" else TOPICS.event
        rebuilt = builder(p.parse_target(parsed.target)[1])
    assert rebuilt == topic


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("name", ["loa-01\n", "vt\n"])
def test_regression_trailing_newline_is_not_a_valid_name(name: str) -> None:
    # `$` in the id/zone regexes matched before a final newline, so "loa-01\n" was an id
    # (and a newline is how a name escapes one line of Mosquitto's password file or ACL).
    with pytest.raises(p.MalformedMessage):
        p.validate_device_id(name)
    with pytest.raises(p.MalformedMessage):
        p.validate_zone_path(name)
    with pytest.raises(p.MalformedMessage):
        TOPICS.parse(f"pa/v2/state/{name}")


def test_regression_sha256_with_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="sha256"):
        p.Media.model_validate({**MEDIA, "sha256": SHA + "\n"})


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_regression_instants_outside_utc_range_are_malformed_not_overflow(at: str) -> None:
    # Normalising these to UTC overflowed `datetime`: OverflowError escaped every parser.
    with pytest.raises(p.MalformedMessage):
        p.parse_state(json.dumps({"device_id": "loa-01", "online": True, "at": at}))
    receipt = {"device_id": "loa-01", "occurrence_id": "o", "type": "started", "at": at}
    with pytest.raises(p.MalformedMessage):
        p.parse_receipt(json.dumps(receipt))
    with pytest.raises(p.MalformedMessage):
        p.parse_instant(at)
    obj = {**json.loads(VALID["timeline"]), "expires_at": at}
    with pytest.raises(p.MalformedMessage):
        p.open_envelope(sign_raw(obj, KEY), keys=KEYS, now=NOW)


def test_regression_deep_nesting_is_malformed_not_recursion_error() -> None:
    # 100 KB of '[' is far below MAX_MESSAGE_BYTES but past the JSON parser's recursion limit.
    deep = _nested(100_000).encode()
    for parse in (p.parse_state, p.parse_receipt, p.loads_object):
        with pytest.raises(p.MalformedMessage, match="nested"):
            parse(deep)
    with pytest.raises(p.MalformedMessage):
        p.open_envelope(deep, keys=KEYS, now=NOW)
