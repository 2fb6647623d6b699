"""Who may do what: pure functions over an `Actor`, raising `Forbidden` with a Vietnamese reason.

Roles, from most to least power:
- admin: everything, including users and emergency (khẩn cấp) broadcasts;
- approver: everything an operator does, plus approving other people's announcements; acts
  everywhere when given no zones (district staff), else only inside them (a commune approver);
- operator: writes announcements and schedules, only for targets inside their zones;
- viewer: reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pa_server.auth.errors import Forbidden


class Role(StrEnum):
    """An account's role."""

    ADMIN = "admin"
    APPROVER = "approver"
    OPERATOR = "operator"
    VIEWER = "viewer"


ROLE_LABELS_VI: dict[Role, str] = {
    Role.ADMIN: "Quản trị",
    Role.APPROVER: "Người duyệt",
    Role.OPERATOR: "Người vận hành",
    Role.VIEWER: "Người xem",
}

LEVELS = ("normal", "priority", "emergency")


@dataclass(frozen=True)
class Actor:
    """The signed-in person, as far as rights are concerned."""

    id: int
    username: str
    role: Role
    #: Zone paths ("huyen/xa-a") this person acts in; empty for an operator means nowhere.
    zones: tuple[str, ...] = ()
    full_name: str = ""

    @property
    def name(self) -> str:
        """The user name (what the store records as author and approver)."""
        return self.username


def zone_within(path: str, root: str) -> bool:
    """True when zone `path` is `root` or one of its descendants ("a/b" is within "a")."""
    path, root = path.strip("/"), root.strip("/")
    return root == "" or path == root or path.startswith(root + "/")


def _everywhere(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or (actor.role is Role.APPROVER and not actor.zones)


def may_act_in_zone(actor: Actor, zone_path: str) -> bool:
    """True when `actor` may change things that reach `zone_path`."""
    if actor.role is Role.VIEWER:
        return False
    if _everywhere(actor):
        return True
    return any(zone_within(zone_path, root) for root in actor.zones)


def require_writer(actor: Actor) -> None:
    """Refuse viewers any change."""
    if actor.role is Role.VIEWER:
        raise Forbidden("read_only", "Tài khoản chỉ có quyền xem.")


def require_zone(actor: Actor, zone_path: str) -> None:
    """Refuse unless `actor` may act in `zone_path`."""
    require_writer(actor)
    if not may_act_in_zone(actor, zone_path):
        raise Forbidden("outside_zone", f"Bạn không có quyền với khu vực “{zone_path}”.")


def require_targets(
    actor: Actor, targets: Iterable[str], device_zones: dict[str, str] | None = None
) -> None:
    """Refuse unless every target ("zone:a/b" or "device:x") lies inside the actor's zones.

    `device_zones` maps device ids to their zone path; a device the map does not know is
    refused for operators (they cannot prove it is theirs).
    """
    require_writer(actor)
    for target in targets:
        kind, _, name = target.partition(":")
        if kind == "zone":
            require_zone(actor, name)
        elif kind == "device":
            if _everywhere(actor):
                continue
            zone = (device_zones or {}).get(name)
            if zone is None or not may_act_in_zone(actor, zone):
                raise Forbidden("outside_zone", f"Bạn không có quyền với thiết bị “{name}”.")
        else:
            raise Forbidden("bad_target", f"Đích phát không hợp lệ: “{target}”.")


def require_approve(actor: Actor, author: str | None) -> None:
    """Refuse unless `actor` may approve (or reject) an announcement written by `author`."""
    if actor.role not in (Role.APPROVER, Role.ADMIN):
        raise Forbidden("not_approver", "Chỉ người duyệt mới được duyệt thông báo.")
    if author is not None and author.casefold() == actor.username.casefold():
        # Two people stand behind every broadcast: admins too need someone else to approve.
        raise Forbidden("own_announcement", "Bạn không thể tự duyệt thông báo của chính mình.")


def require_level(actor: Actor, level: str, *, confirmed: bool) -> None:
    """Refuse an emergency (khẩn cấp) broadcast unless by an admin who explicitly confirmed it."""
    if level not in LEVELS:
        raise Forbidden("bad_level", f"Mức phát không hợp lệ: “{level}”.")
    require_writer(actor)
    if level != "emergency":
        return
    if actor.role is not Role.ADMIN:
        raise Forbidden("emergency_admin_only", "Chỉ quản trị viên mới được phát tin khẩn cấp.")
    if not confirmed:
        raise Forbidden(
            "emergency_unconfirmed", "Phát tin khẩn cấp cần xác nhận rõ ràng trước khi gửi."
        )


def require_admin(actor: Actor) -> None:
    """Refuse unless `actor` is an admin (managing users, tokens of others)."""
    if actor.role is not Role.ADMIN:
        raise Forbidden("admin_only", "Chỉ quản trị viên mới được làm việc này.")
