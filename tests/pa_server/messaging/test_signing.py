"""The server's signing keys: created once, safe on disk, rotatable, verifiable by agents."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import protocol as p
from pa_server.messaging.signing import KeyFileError, ServerKeys, SigningError, key_id

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def test_first_start_creates_a_private_key_file_with_mode_0600(tmp_path: Path) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    files = list((tmp_path / "keys").iterdir())
    assert [f.name for f in files] == [f"0001-{keys.kid}.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert files[0].read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_second_start_loads_the_same_key(tmp_path: Path) -> None:
    first = ServerKeys.load_or_create(tmp_path)
    second = ServerKeys.load_or_create(tmp_path)
    assert second.kid == first.kid
    assert second.public_keys() == first.public_keys()


def test_kid_is_derived_from_the_public_key(tmp_path: Path) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    (kid, pub), *_ = keys.verification_keys().items()
    assert kid == keys.kid == key_id(pub)
    assert len(kid) == 8


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_access_refuses_to_start(tmp_path: Path, mode: int) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    path = tmp_path / "keys" / f"0001-{keys.kid}.pem"
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=f"chmod 600 {path}") as info:
        ServerKeys.load_or_create(tmp_path)
    assert f"{mode:04o}" in str(info.value)


def test_garbage_key_file_is_a_clear_error(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    bad = key_dir / "0001-deadbeef.pem"
    bad.write_bytes(b"not a key")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a readable PEM private key"):
        ServerKeys.load_or_create(tmp_path)


def test_stray_files_in_the_key_directory_are_ignored(tmp_path: Path) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    (tmp_path / "keys" / "README").write_text("notes")
    assert ServerKeys.load_or_create(tmp_path).kid == keys.kid


def test_signed_envelope_verifies_with_the_published_key(tmp_path: Path) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    published = {
        k["kid"]: p.load_public_key_b64(k["public_key"])
        for k in keys.public_keys()
        if k["alg"] == "Ed25519"
    }
    payload = keys.sign("volume", {"volume": 70}, now=NOW, expires_at=NOW + timedelta(minutes=10))
    env = p.open_envelope(payload, keys=published, now=NOW)
    assert env.kind == "volume"
    assert env.kid == keys.kid
    assert env.body == p.VolumeBody(volume=70)


def test_rotation_signs_with_the_new_key_and_keeps_publishing_the_old(tmp_path: Path) -> None:
    old = ServerKeys.load_or_create(tmp_path)
    old_payload = old.sign("ping", {}, now=NOW, expires_at=NOW + timedelta(minutes=10))
    ServerKeys.rotate(tmp_path)
    keys = ServerKeys.load_or_create(tmp_path)  # what the restarted server sees
    assert keys.kid != old.kid
    assert [k["kid"] for k in keys.public_keys()] == [keys.kid, old.kid]
    new_payload = keys.sign("ping", {}, now=NOW, expires_at=NOW + timedelta(minutes=10))
    assert p.open_envelope(new_payload, keys=keys.verification_keys(), now=NOW).kid == keys.kid
    # An agent that only knows the old key keeps accepting what was signed before the rotation.
    assert p.open_envelope(old_payload, keys=keys.verification_keys(), now=NOW).kid == old.kid
    with pytest.raises(p.BadSignature):
        p.open_envelope(new_payload, keys=old.verification_keys(), now=NOW)


def test_staged_rotation_publishes_the_next_key_before_it_signs(tmp_path: Path) -> None:
    old = ServerKeys.load_or_create(tmp_path)
    prepared = ServerKeys.add_next_key(tmp_path)
    next_kid = prepared.public_keys()[0]["kid"]
    # Published (agents get provisioned with it) but the old key still signs, also after a
    # restart.
    for keys in (prepared, ServerKeys.load_or_create(tmp_path)):
        assert keys.kid == old.kid
        assert [k["kid"] for k in keys.public_keys()] == [next_kid, old.kid]
    assert (tmp_path / "keys" / f"0002-{next_kid}.next.pem").exists()
    with pytest.raises(SigningError, match="already prepared"):
        ServerKeys.add_next_key(tmp_path)

    rotated = ServerKeys.rotate(tmp_path)
    assert rotated.kid == next_kid
    assert ServerKeys.load_or_create(tmp_path).kid == next_kid
    assert sorted(f.name for f in (tmp_path / "keys").iterdir()) == [
        f"0001-{old.kid}.pem",
        f"0002-{next_kid}.pem",
    ]
    # An agent provisioned during the staged step verifies what the rotated server signs.
    agent_keys = prepared.verification_keys()
    payload = rotated.sign("ping", {}, now=NOW, expires_at=NOW + timedelta(minutes=10))
    assert p.open_envelope(payload, keys=agent_keys, now=NOW).kid == next_kid


def test_a_renamed_key_file_is_refused(tmp_path: Path) -> None:
    keys = ServerKeys.load_or_create(tmp_path)
    (tmp_path / "keys" / f"0001-{keys.kid}.pem").rename(tmp_path / "keys" / "0001-00000000.pem")
    with pytest.raises(KeyFileError, match="file name does not match"):
        ServerKeys.load_or_create(tmp_path)
