"""Jinja2 set-up for the Vietnamese pages: one environment, shared context, words and formats.

Every page gets, besides what its route passes: the signed-in `user`, `can(...)` (rights,
`pa_server.web.can`), `names` (display names of zones, people, loudspeakers, read lazily from
the store once per page) and the filters below, so no template ever shows a code, a slug or
a rule as stored.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import select

from devices.protocol import EMERGENCY_PRIORITY, utc_now
from pa_server.auth.rights import Role
from pa_server.auth.sessions import CSRF_FIELD
from pa_server.web import audit_text, labels
from pa_server.web.calendar import calendar_clause, day_mark, day_notes
from pa_server.web.can import can
from pa_server.web.describe import describe_schedule, join_vi
from pa_server.web.paging import paginate
from pa_server.web.recurrence import WEEKDAY_LABELS_VI, day_text

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_TZ = "Asia/Ho_Chi_Minh"

#: The staff navigation: (path, label). Order is the order of the menu.
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Tổng quan"),
    ("/thong-bao", "Thông báo"),
    ("/lich-phat", "Lịch phát"),
    ("/chuong-trinh", "Chương trình"),
    ("/truc-tiep", "Trực tiếp"),
    ("/khan-cap", "Khẩn cấp"),
    ("/canh-bao", "Cảnh báo"),
    ("/thiet-bi", "Thiết bị"),
    ("/bao-cao", "Báo cáo"),
    ("/nhat-ky", "Nhật ký"),
    ("/nguoi-dung", "Người dùng"),
)

# Kept for code that imports them; the words themselves live in labels.toml.
LEVEL_LABELS_VI = dict(labels.options("level"))
STATUS_LABELS_VI = dict(labels.options("announcement_status", ("draft", "approved", "archived")))
OCCURRENCE_STATUS_LABELS_VI = dict(labels.options("occurrence_status"))

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


class Names:
    """Display names for one page, read from the store on first use (`audit_text.Names`)."""

    def __init__(self, request: Request | None) -> None:
        self._request = request
        self._titles: dict[tuple[str, str], str | None] = {}

    def _sessions(self) -> Any:
        app = getattr(self._request, "app", None)
        return getattr(getattr(app, "state", None), "sessions", None)

    def _query(self, statement: Any) -> list[Any]:
        sessions = self._sessions()
        if sessions is None:
            return []
        try:
            with sessions() as db:
                return list(db.execute(statement))
        except Exception:  # a page must still render without names
            log.exception("names for the page could not be read")
            return []

    @cached_property
    def _zones(self) -> dict[str, str]:
        from pa_server.db.models import Zone

        return dict(self._query(select(Zone.path, Zone.name)))

    @cached_property
    def _people(self) -> dict[str, str]:
        from pa_server.auth.models import User

        rows = self._query(select(User.username, User.full_name))
        return {u: (n or u) for u, n in rows}

    @cached_property
    def _devices(self) -> dict[str, str]:
        from pa_server.db.models import Device

        return {i: (n or i) for i, n in self._query(select(Device.id, Device.name))}

    @cached_property
    def rejected(self) -> frozenset[str]:
        """Ids of announcements archived by a rejection (the audit log says so).

        A rejection stops counting once the announcement is re-drafted ("Soạn lại"): archived
        by hand after that, it is "Lưu trữ" on every page, not "Bị từ chối".
        """
        from pa_server.auth.models import AuditEntry

        query = (
            select(AuditEntry.entity_id, AuditEntry.action, AuditEntry.after)
            .where(
                AuditEntry.entity == "announcements",
                AuditEntry.action.in_(("reject", "update")),
            )
            .order_by(AuditEntry.id)
        )
        rejected: set[str] = set()
        for entity_id, action, after in self._query(query):
            if action == "reject":
                rejected.add(entity_id)
            elif isinstance(after, dict) and after.get("status") == "draft":
                rejected.discard(entity_id)
        return frozenset(rejected)

    def _one(self, path: str) -> str:
        return self._zones.get(path) or "khu vực không còn tồn tại"

    def zone(self, path: str) -> str:
        """ "Xã Tân Tiến" for "vinh-tuong/tan-tien"; never the slug.

        Below a commune the commune is named too ("Thôn 1, Xã Tân Tiến"): many communes
        have a "Thôn 1".
        """
        path = path.strip("/")
        if not path:
            return "toàn huyện"
        parts = path.split("/")
        if len(parts) <= 2:
            return self._one(path)
        return ", ".join(self._one("/".join(parts[: i + 1])) for i in range(len(parts) - 1, 0, -1))

    def zone_trail(self, path: str) -> str:
        """The same as `zone` (kept as its own filter name for templates)."""
        return self.zone(path)

    def zone_options(self) -> list[tuple[str, str]]:
        """(path, "Thôn 1, Xã Tân Tiến") for every zone, tree order: a filter's choices."""
        return [(path, self.zone_trail(path)) for path in sorted(self._zones)]

    def person(self, username: str) -> str:
        """A person's full name, their user name when no full name was given."""
        if username in self._people:
            return self._people[username]
        return audit_text.actor_display(username, audit_text.PlainNames())

    def device(self, device_id: str) -> str:
        """ "loa Thôn 1, xã Tân Tiến" — the loudspeaker's name."""
        name = self._devices.get(device_id)
        if name is None:
            return "một loa đã gỡ"
        return name if name.lower().startswith("loa") else f"loa {name}"

    def _title(self, kind: str, entity_id: str) -> str | None:
        key = (kind, entity_id)
        if key not in self._titles:
            from pa_server.db.models import Announcement, Occurrence, Schedule

            model: Any = {"announcement": Announcement, "schedule": Schedule}.get(kind, Occurrence)
            rows = self._query(select(model.title).where(model.id == entity_id))
            self._titles[key] = rows[0][0] if rows else None
        return self._titles[key]

    def announcement(self, announcement_id: str) -> str | None:
        """An announcement's title."""
        return self._title("announcement", announcement_id) if announcement_id else None

    def schedule(self, schedule_id: str) -> str | None:
        """A schedule's title."""
        return self._title("schedule", schedule_id) if schedule_id else None

    def occurrence(self, occurrence_id: str) -> str | None:
        """A broadcast's title."""
        return self._title("occurrence", occurrence_id) if occurrence_id else None


def _local(value: datetime | None, fmt: str = "%H:%M %d/%m/%Y", tz: str = DEFAULT_TZ) -> str:
    """An instant shown in local time ("06:00 10/08/2026")."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _local_long(value: datetime | None, tz: str = DEFAULT_TZ) -> str:
    """ "06:00, Thứ Hai 10/08/2026" in local time."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M}, {WEEKDAY_LABELS_VI[local.weekday()]} {local:%d/%m/%Y}"


def _names(ctx: Context) -> Names:
    names = ctx.get("names")
    return names if isinstance(names, Names) else Names(None)


@pass_context
def _zone_name(ctx: Context, path: str) -> str:
    return _names(ctx).zone(str(path or ""))


@pass_context
def _zone_names(ctx: Context, paths: Any) -> str:
    return join_vi([_names(ctx).zone(str(p)) for p in paths or ()])


@pass_context
def _zone_trail(ctx: Context, path: str) -> str:
    return _names(ctx).zone_trail(str(path or ""))


@pass_context
def _target_names(ctx: Context, targets: Any) -> str:
    return join_vi([audit_text.target_name(str(t), _names(ctx)) for t in targets or ()])


@pass_context
def _device_name(ctx: Context, device_id: str) -> str:
    return _names(ctx).device(str(device_id))


@pass_context
def _person(ctx: Context, username: str | None) -> str:
    return _names(ctx).person(str(username or ""))


@pass_context
def _schedule_text(ctx: Context, schedule: Any, tz: str | None = None) -> str:
    zone = tz or getattr(schedule, "timezone", None) or DEFAULT_TZ
    try:
        today = utc_now().astimezone(ZoneInfo(zone)).date()
        return describe_schedule(
            schedule.rrule,
            schedule.start,
            schedule.end,
            zone,
            exdates=list(getattr(schedule, "exdates", ()) or ()),
            today=today,
            times=[time.fromisoformat(t) for t in getattr(schedule, "times", ()) or ()],
        ) + calendar_clause(
            getattr(schedule, "lunar", None), getattr(schedule, "holidays", "include")
        )
    except (KeyError, ValueError):
        log.exception("schedule %s could not be described", getattr(schedule, "id", "?"))
        return "Lịch lặp lại theo quy tắc riêng"


@pass_context
def _audit_sentence(ctx: Context, row: Any, tz: str = DEFAULT_TZ) -> str:
    return audit_text.sentence(row, _names(ctx), tz)


@pass_context
def _audit_changes(ctx: Context, row: Any, tz: str = DEFAULT_TZ) -> list[tuple[str, str, str]]:
    return audit_text.changes(row, _names(ctx), tz)


@pass_context
def _announcement_status(ctx: Context, ann: Any) -> str:
    rejected = ann.status == "archived" and ann.id in _names(ctx).rejected
    return labels.announcement_status(ann.status, rejected=rejected)


@pass_context
def _can(ctx: Context, action: str, *args: Any) -> bool:
    return can(ctx.get("user"), action, *args)


def _label(code: Any, kind: str) -> str:
    return labels.label(kind, code)


def _upper_first(text: str) -> str:
    # Jinja's `capitalize` lowercases the rest, which would turn "Xã Tân Tiến" into "xã tân tiến".
    return text[:1].upper() + text[1:]


def _duration_vi(ms: int | float | None) -> str:
    """ "2 phút 5 giây", "45 giây" (rounded to the second)."""
    seconds = round((ms or 0) / 1000)
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} giây"
    return f"{minutes} phút" + (f" {rest} giây" if rest else "")


def _mark_time(title: str) -> str:
    # A timeline mark's title is "06:00 <announcement>" (schedules.week_timeline).
    return title.partition(" ")[0]


def _mark_name(title: str) -> str:
    return title.partition(" ")[2]


def _date_vi(value: date | datetime | None) -> str:
    return "" if value is None else f"{value:%d/%m/%Y}"


templates.env.filters.update(
    local=_local,
    local_long=_local_long,
    label=_label,
    zone_name=_zone_name,
    zone_names=_zone_names,
    zone_trail=_zone_trail,
    target_names=_target_names,
    device_name=_device_name,
    person=_person,
    schedule_text=_schedule_text,
    audit_sentence=_audit_sentence,
    audit_changes=_audit_changes,
    announcement_status=_announcement_status,
    device_error=labels.device_error,
    device_flags=labels.flags,
    receipt_key=labels.receipt_key,
    tally_sentence=labels.tally_sentence,
    date_vi=_date_vi,
    day_text=day_text,
    upper_first=_upper_first,
    duration_vi=_duration_vi,
    mark_time=_mark_time,
    mark_name=_mark_name,
    day_mark=day_mark,
    day_notes=day_notes,
)
templates.env.globals.update(
    NAV=NAV,
    EMERGENCY_PRIORITY=EMERGENCY_PRIORITY,
    CSRF_FIELD=CSRF_FIELD,
    LEVELS=LEVEL_LABELS_VI,
    STATUSES=STATUS_LABELS_VI,
    OCCURRENCE_STATUSES=OCCURRENCE_STATUS_LABELS_VI,
    LABELS=labels.all_labels(),
    ROLES=dict(labels.options("role")),
    ROLE_ORDER=[r.value for r in Role],
    ROLE_OPTIONS=labels.options("role", [r.value for r in Role]),
    can=_can,
    tally=labels.tally,
    voice=labels.voice,
    link_key=labels.link_key,
    link_counts=labels.link_counts,
    paginate=paginate,
)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render template `name` with the signed-in user and their CSRF token in reach."""
    ctx: dict[str, Any] = {"user": getattr(request.state, "user", None), "names": Names(request)}
    session = getattr(request.state, "session", None)
    ctx["csrf_token"] = session.csrf if session is not None else ""
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status)
