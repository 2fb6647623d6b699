"""Rights as pure functions: zones, approval, emergency level."""

from __future__ import annotations

import pytest

from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import (
    Actor,
    Role,
    may_act_in_zone,
    require_admin,
    require_approve,
    require_level,
    require_targets,
    require_zone,
    zone_within,
)

ADMIN = Actor(1, "admin", Role.ADMIN)
APPROVER = Actor(2, "duyet", Role.APPROVER)
COMMUNE_APPROVER = Actor(5, "duyet-xa", Role.APPROVER, ("huyen/xa-a",))
OPERATOR = Actor(3, "vanhanh", Role.OPERATOR, ("huyen/xa-a",))
VIEWER = Actor(4, "xem", Role.VIEWER)


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("huyen/xa-a", "huyen/xa-a", True),
        ("huyen/xa-a/thon-1", "huyen/xa-a", True),
        ("huyen/xa-ab", "huyen/xa-a", False),  # a prefix of the name is not a descendant
        ("huyen", "huyen/xa-a", False),
        ("huyen/xa-b", "huyen/xa-a", False),
        ("/huyen/xa-a/", "huyen/xa-a", True),
    ],
)
def test_zone_within(path: str, root: str, inside: bool) -> None:
    assert zone_within(path, root) is inside


def test_operator_acts_only_inside_own_zone_and_descendants() -> None:
    assert may_act_in_zone(OPERATOR, "huyen/xa-a/thon-2")
    assert not may_act_in_zone(OPERATOR, "huyen/xa-b")
    assert not may_act_in_zone(OPERATOR, "huyen")
    with pytest.raises(Forbidden) as exc:
        require_zone(OPERATOR, "huyen/xa-b")
    assert exc.value.code == "outside_zone"
    assert "huyen/xa-b" in exc.value.message_vi


def test_operator_without_zones_acts_nowhere() -> None:
    assert not may_act_in_zone(Actor(9, "x", Role.OPERATOR), "huyen")


def test_admin_and_district_approver_act_everywhere_commune_approver_does_not() -> None:
    assert may_act_in_zone(ADMIN, "huyen/xa-b")
    assert may_act_in_zone(APPROVER, "huyen/xa-b")
    assert may_act_in_zone(COMMUNE_APPROVER, "huyen/xa-a/thon-1")
    assert not may_act_in_zone(COMMUNE_APPROVER, "huyen/xa-b")


def test_viewer_changes_nothing() -> None:
    with pytest.raises(Forbidden) as exc:
        require_zone(VIEWER, "huyen")
    assert exc.value.code == "read_only"


def test_targets_zone_and_device() -> None:
    devices = {"loa-1": "huyen/xa-a/thon-1", "loa-9": "huyen/xa-b"}
    require_targets(OPERATOR, ["zone:huyen/xa-a", "device:loa-1"], devices)
    for bad in (["zone:huyen/xa-b"], ["device:loa-9"], ["device:unknown"]):
        with pytest.raises(Forbidden) as exc:
            require_targets(OPERATOR, bad, devices)
        assert exc.value.code == "outside_zone"
    with pytest.raises(Forbidden) as exc:
        require_targets(OPERATOR, ["everyone"], devices)
    assert exc.value.code == "bad_target"
    require_targets(ADMIN, ["device:unknown"], devices)


def test_only_approvers_approve_and_never_their_own() -> None:
    require_approve(APPROVER, author=OPERATOR.username)
    require_approve(ADMIN, author=OPERATOR.username)
    with pytest.raises(Forbidden) as exc:
        require_approve(OPERATOR, author=APPROVER.username)
    assert exc.value.code == "not_approver"
    with pytest.raises(Forbidden) as exc:
        require_approve(APPROVER, author=APPROVER.username)
    assert exc.value.code == "own_announcement"
    with pytest.raises(Forbidden):
        require_approve(ADMIN, author=ADMIN.username)


def test_emergency_needs_admin_and_confirmation() -> None:
    require_level(OPERATOR, "priority", confirmed=False)
    require_level(ADMIN, "emergency", confirmed=True)
    with pytest.raises(Forbidden) as exc:
        require_level(APPROVER, "emergency", confirmed=True)
    assert exc.value.code == "emergency_admin_only"
    with pytest.raises(Forbidden) as exc:
        require_level(ADMIN, "emergency", confirmed=False)
    assert exc.value.code == "emergency_unconfirmed"
    with pytest.raises(Forbidden) as exc:
        require_level(ADMIN, "loud", confirmed=True)
    assert exc.value.code == "bad_level"


def test_admin_only() -> None:
    require_admin(ADMIN)
    for actor in (APPROVER, OPERATOR, VIEWER):
        with pytest.raises(Forbidden):
            require_admin(actor)
