"""Thiết bị and Khu vực: the loudspeakers and the zone tree, managed by name.

A person adds a loudspeaker by its name, where it hangs and its zone (picked by name); the
page answers with its agent config, shown once (the same TOML `pa-server device add` prints).
Moving a loudspeaker or giving it a new password answers the same way: the config names the
zone and holds the password, so the agent needs the new file. Zones are added by their
Vietnamese name under a parent; their slug paths never reach the page. Every action is one
service call (`pa_server.services.devices`, `pa_server.services.zones`), which holds the
rights; `can(...)` only decides which buttons to show.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor
from pa_server.db.models import Device
from pa_server.schemas.common import whole_number
from pa_server.schemas.devices import DeviceCreate, DeviceUpdate
from pa_server.schemas.zones import ZoneCreate, ZoneUpdate
from pa_server.services import devices, search, zones
from pa_server.services.context import UseCase
from pa_server.services.errors import ServiceError
from pa_server.services.provisioning import config_filename, device_config_toml
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_message, service_message
from pa_server.web.paging import PER_PAGE, page_number, paginate
from pa_server.web.templating import render

router = APIRouter()

DEVICES = "/thiet-bi"
ZONES = "/khu-vuc"
#: The device-list filter's value for "every zone" (not a slug, so never a zone's path).
ALL_ZONES = "*"

DEVICE_FLASHES = {
    "ping": "Đã gửi lệnh kiểm tra.",
    "volume": "Đã gửi lệnh đặt âm lượng.",
    "saved": "Đã lưu tên và vị trí của loa.",
    "removed": "Đã gỡ loa khỏi hệ thống.",
}
DEVICE_FLASH_ERRORS = {
    "bus": "Chưa gửi được: kết nối tới các loa chưa chạy.",
    "bad-volume": "Âm lượng phải là số từ 0 đến 100.",
}
ZONE_FLASHES = {
    "added": "Đã thêm khu vực.",
    "saved": "Đã lưu khu vực.",
    "removed": "Đã xóa khu vực.",
}
#: Vietnamese for the refusals these forms can meet (beyond `messages.MESSAGES_VI`).
FLEET_MESSAGES = {
    "duplicate_name": "Tên này đã có trong cùng khu vực. Hãy đặt tên khác.",
    "invalid_name": "Vui lòng nhập tên có chữ hoặc số.",
    "zone_too_deep": "Không thể thêm khu vực sâu hơn nữa.",
    "reserved_id": "Tên này trùng với tên dành riêng của máy chủ. Hãy đặt tên khác.",
}


def _message(exc: ServiceError | Forbidden) -> str:
    if isinstance(exc, ServiceError) and exc.code in FLEET_MESSAGES:
        return FLEET_MESSAGES[exc.code]
    return refusal_message(exc)


def _form_values(form: Any) -> dict[str, str]:
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


# ---------------------------------------------------------------- loudspeakers


def _scope(actor: Actor, zone: str | None) -> tuple[str | None, list[str] | None, str]:
    """(zone filter, own zones filter, what the picker shows) for the device list.

    Someone who works in some zones (an operator, a commune approver) sees their own
    loudspeakers first; "Tất cả khu vực" shows every one (reading is everyone's).
    """
    if zone is None or zone == "":
        if actor.zones:
            return None, list(actor.zones), ""
        return None, None, ""
    if zone == ALL_ZONES:
        return None, None, ALL_ZONES
    return zone, None, zone


@router.get(DEVICES)
def devices_page(
    request: Request,
    actor: PageActor,
    db: DbDep,
    zone: str | None = None,
    tb: str = "",
    q: str = "",
    trang: str = "",
) -> Response:
    """Thiết bị: each loudspeaker's state, searchable and paged; an operator sees their own
    zones' first."""
    error = None
    only, within, chosen = _scope(actor, zone)
    term = search.term(q)
    page = page_number(trang)
    counts = {"online": 0, "offline": 0, "never": 0}
    try:
        rows, total = devices.list_devices(
            db,
            zone=only,
            within=within,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
            search=term,
        )
        counts = devices.link_counts(db, zone=only, within=within, search=term)
    except ServiceError as exc:
        rows, total, error = [], 0, service_message(exc)
    threshold = request.app.state.settings.clock_drift_threshold_s
    table = [
        {
            "device": devices.device_public(d, drift_threshold_s=threshold),
            "state": d.state.payload if d.state is not None else {},
        }
        for d in rows
    ]
    return render(
        request,
        "devices.html",
        {
            "title": "Thiết bị",
            "active": DEVICES,
            "rows": table,
            "zone": chosen,
            "mine": within is not None,
            "q": term or "",
            "counts": counts,
            "paging": paginate(page, total, query={"zone": chosen, "q": term or ""}),
            "error": error or DEVICE_FLASH_ERRORS.get(tb),
            "flash": DEVICE_FLASHES.get(tb),
            "tz": request.app.state.settings.timezone,
        },
    )


def _new_form(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "device_form.html",
        {"title": "Thêm loa", "active": DEVICES, "values": values, "errors": errors},
        status=status,
    )


@router.get(DEVICES + "/moi")
def new_device_page(request: Request, actor: PageActor) -> Response:
    """The form to add a loudspeaker: name, where it hangs, its zone (by name)."""
    return _new_form(request, {}, {})


def _config_page(
    request: Request, uc: UseCase, device: Device, password: str, *, why: str, status: int = 200
) -> Response:
    """The agent config, shown once: a download with a proper file name, and the password."""
    response = render(
        request,
        "device_config.html",
        {
            "title": "Tệp cấu hình loa",
            "active": DEVICES,
            "device": device,
            "why": why,
            "password": password,
            "config": device_config_toml(device, password, uc.settings),
            "filename": config_filename(device.id),
        },
        status=status,
    )
    # The page holds a password: no cache keeps it, no back button brings it back.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(DEVICES + "/moi")
async def add_device(request: Request, uc: PageUseCase) -> Response:
    """Register a loudspeaker; answer with its config to download (once)."""
    values = _form_values(await request.form())
    errors: dict[str, str] = {}
    if not values.get("name"):
        errors["name"] = "Vui lòng đặt tên cho loa, ví dụ “Loa chợ Tân Tiến”."
    if not values.get("zone"):
        errors["zone"] = "Vui lòng chọn khu vực."
    if errors:
        return _new_form(request, values, errors, 422)
    data = DeviceCreate(
        zone=values["zone"], name=values["name"], location=values.get("location", "")
    )
    try:
        device, password = devices.create_device(uc, data)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        field = "name" if getattr(exc, "code", "") in ("duplicate_name", "reserved_id") else "zone"
        return _new_form(request, values, {field: _message(exc)}, _status(exc))
    return _config_page(request, uc, device, password, why="added")


def _status(exc: ServiceError | Forbidden) -> int:
    return 403 if isinstance(exc, Forbidden) else exc.status


def _device_page(
    request: Request,
    db: DbDep,
    device_id: str,
    *,
    error: str | None = None,
    flash: str | None = None,
    values: dict[str, str] | None = None,
    blocking: list[Any] | None = None,
    status: int = 200,
) -> Response:
    device = devices.get_device(db, device_id)
    settings = request.app.state.settings
    return render(
        request,
        "device.html",
        {
            "title": device.name or "Loa",
            "active": DEVICES,
            "d": devices.device_public(device, drift_threshold_s=settings.clock_drift_threshold_s),
            "s": device.state.payload if device.state is not None else {},
            "state": device.state,
            "values": values or {"name": device.name, "location": device.location},
            "errors": {},
            "error": error,
            "flash": flash,
            "blocking": blocking or [],
            "tz": settings.timezone,
        },
        status=status,
    )


@router.get(DEVICES + "/{device_id}")
def device_page(
    request: Request, device_id: str, actor: PageActor, db: DbDep, tb: str = ""
) -> Response:
    """One loudspeaker: status, last contact, volume, clock, zone; and what may be done to it."""
    return _device_page(
        request,
        db,
        device_id,
        flash=DEVICE_FLASHES.get(tb),
        error=DEVICE_FLASH_ERRORS.get(tb),
    )


@router.post(DEVICES + "/{device_id}/sua")
async def edit_device(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Rename a loudspeaker or say where it hangs."""
    values = _form_values(await request.form())
    data = DeviceUpdate(name=values.get("name", ""), location=values.get("location", ""))
    try:
        devices.update_device(uc, device_id, data)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        return _device_page(
            request, uc.db, device_id, error=_message(exc), values=values, status=_status(exc)
        )
    return RedirectResponse(f"{DEVICES}/{device_id}?tb=saved", status_code=303)


@router.post(DEVICES + "/{device_id}/chuyen")
async def move_device(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Move a loudspeaker to another zone; answer with its new config."""
    zone = str((await request.form()).get("zone", "")).strip()
    try:
        device, password = devices.move_device(uc, device_id, zone)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        return _device_page(request, uc.db, device_id, error=_message(exc), status=_status(exc))
    return _config_page(request, uc, device, password, why="moved")


@router.post(DEVICES + "/{device_id}/mat-khau")
def new_password(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Give a loudspeaker a new password; answer with its new config."""
    password = devices.reset_password(uc, device_id)
    return _config_page(request, uc, devices.get_device(uc.db, device_id), password, why="reset")


@router.post(DEVICES + "/{device_id}/go")
async def retire_device(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Retire a loudspeaker (after an explicit confirmation)."""
    if (await request.form()).get("confirm") != "yes":
        return _device_page(
            request,
            uc.db,
            device_id,
            error="Hãy đánh dấu ô xác nhận trước khi gỡ loa.",
            status=422,
        )
    try:
        devices.delete_device(uc, device_id)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        blocking = devices.device_schedules(uc.db, device_id)
        error = (
            "Chưa gỡ được: loa này được chọn riêng trong các lịch phát dưới đây. Hãy sửa "
            "hoặc xóa các lịch đó trước (lịch phát cho cả khu vực thì không cần)."
            if isinstance(exc, ServiceError) and exc.code == "device_in_use"
            else _message(exc)
        )
        return _device_page(
            request, uc.db, device_id, error=error, blocking=blocking, status=_status(exc)
        )
    return RedirectResponse(f"{DEVICES}?tb=removed", status_code=303)


@router.post(DEVICES + "/{device_id}/ping")
async def ping(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Ask the agent to report its state again."""
    back = await _back(request, device_id)
    return _command(uc, lambda: devices.ping_device(uc, device_id), "ping", back)


@router.post(DEVICES + "/{device_id}/am-luong")
async def volume(request: Request, device_id: str, uc: PageUseCase) -> Response:
    """Set the agent's volume (0–100)."""
    form = await request.form()
    back = await _back(request, device_id)
    value = str(form.get("volume", "")).strip()
    volume = whole_number(value)
    if volume is None or not 0 <= volume <= 100:
        return RedirectResponse(f"{back}?tb=bad-volume", status_code=303)
    return _command(uc, lambda: devices.set_volume(uc, device_id, volume), "volume", back)


async def _back(request: Request, device_id: str) -> str:
    """Where a command returns: the device's own page when sent from it, else the list."""
    from_page = (await request.form()).get("back") == "device"
    return f"{DEVICES}/{device_id}" if from_page else DEVICES


def _command(uc: UseCase, send: Callable[[], str], flash: str, back: str) -> Response:
    """Run one device command; back to where it was sent from, saying what happened."""
    try:
        send()
    except ServiceError as exc:
        if exc.code != "bus_unavailable":
            raise
        flash = "bus"
    return RedirectResponse(f"{back}?tb={flash}", status_code=303)


# ---------------------------------------------------------------- zones


def _zones_page(
    request: Request,
    db: DbDep,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flash: str | None = None,
    status: int = 200,
) -> Response:
    rows = []
    for zone in sorted(zones.list_zones(db), key=lambda z: z.path):
        usage = zones.zone_usage(db, zone.path)
        rows.append(
            {
                "zone": zone,
                "depth": zone.path.count("/"),
                "usage": usage,
                "devices": len(usage.devices),
            }
        )
    return render(
        request,
        "zones.html",
        {
            "title": "Khu vực",
            "active": DEVICES,
            "rows": rows,
            "values": values or {},
            "errors": errors or {},
            "error": error,
            "flash": flash,
            "usage_sentence": usage_sentence,
        },
        status=status,
    )


@router.get(ZONES)
def zones_page(request: Request, actor: PageActor, db: DbDep, tb: str = "") -> Response:
    """Khu vực: the tree by name, with loudspeaker counts; admins add, rename and delete."""
    return _zones_page(request, db, flash=ZONE_FLASHES.get(tb))


@router.post(ZONES)
async def add_zone(request: Request, uc: PageUseCase) -> Response:
    """Add a zone by its Vietnamese name under a parent (the slug path is derived)."""
    values = _form_values(await request.form())
    if not values.get("name"):
        errors = {"name": "Vui lòng nhập tên khu vực, ví dụ “Xã Tân Tiến”."}
        return _zones_page(request, uc.db, values=values, errors=errors, status=422)
    try:
        zones.create_zone(uc, ZoneCreate(parent=values.get("parent", ""), name=values["name"]))
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        field = "parent" if getattr(exc, "code", "") in ("unknown_zone", "invalid_slug") else "name"
        errors = {field: _message(exc)}
        return _zones_page(request, uc.db, values=values, errors=errors, status=_status(exc))
    return RedirectResponse(f"{ZONES}?tb=added", status_code=303)


def _clock(text: str) -> time | None:
    """ "21:30" or "6:00" → a time; "" → None; anything else → ValueError."""
    if not text:
        return None
    hours, _, minutes = text.partition(":")
    if whole_number(hours) is None or whole_number(minutes) is None or len(minutes) != 2:
        raise ValueError(text)
    return time(int(hours), int(minutes))


@router.post(ZONES + "/sua")
async def edit_zone(request: Request, uc: PageUseCase) -> Response:
    """Rename a zone (its path stays), set its quiet hours and default volume."""
    values = _form_values(await request.form())
    path = values.get("zone", "")
    try:
        quiet = _clock(values.get("quiet_start", "")), _clock(values.get("quiet_end", ""))
    except ValueError:
        return _zones_page(
            request, uc.db, error="Giờ yên tĩnh phải viết dạng giờ:phút, ví dụ 21:30.", status=422
        )
    volume = values.get("default_volume", "")
    if volume and not (volume.isdigit() and 0 <= int(volume) <= 100):
        return _zones_page(
            request, uc.db, error="Âm lượng mặc định phải là số từ 0 đến 100.", status=422
        )
    data = ZoneUpdate(
        name=values.get("name", ""),
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        default_volume=int(volume) if volume else None,
    )
    try:
        zones.update_zone(uc, path, data)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        return _zones_page(request, uc.db, error=_message(exc), status=_status(exc))
    return RedirectResponse(f"{ZONES}?tb=saved", status_code=303)


@router.post(ZONES + "/xoa")
async def delete_zone(request: Request, uc: PageUseCase) -> Response:
    """Delete an empty zone; otherwise say what is still in it."""
    path = str((await request.form()).get("zone", ""))
    try:
        zones.delete_zone(uc, path)
    except (ServiceError, Forbidden) as exc:
        uc.db.rollback()
        if isinstance(exc, ServiceError) and exc.code == "zone_in_use":
            error = "Chưa xóa được khu vực: " + usage_sentence(zones.zone_usage(uc.db, path))
        else:
            error = _message(exc)
        return _zones_page(request, uc.db, error=error, status=_status(exc))
    return RedirectResponse(f"{ZONES}?tb=removed", status_code=303)


def usage_sentence(usage: zones.ZoneUsage) -> str:
    """ "còn 2 khu vực con, 3 loa và 1 lịch phát; 1 người dùng được giao khu vực này." """
    parts = [
        f"{n} {what}"
        for n, what in (
            (len(usage.children), "khu vực con"),
            (len(usage.devices), "loa"),
            (len(usage.schedules), "lịch phát nhắm tới"),
        )
        if n
    ]
    said = ("còn " + ", ".join(parts)) if parts else ""
    if usage.users:
        people = f"{len(usage.users)} người dùng được giao khu vực này"
        said = f"{said}; {people}" if said else people
    return said + ". Hãy chuyển hoặc xóa những mục đó trước."
