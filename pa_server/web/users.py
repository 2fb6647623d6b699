"""Người dùng: accounts, for admins — add, change role and zones, lock and unlock."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pa_server.auth import accounts
from pa_server.auth.errors import AccountError
from pa_server.auth.models import User
from pa_server.auth.rights import require_admin
from pa_server.services import accounts as account_cases
from pa_server.services.errors import NotFound
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.templating import render

router = APIRouter()

BASE = "/nguoi-dung"


def _zones(text: str) -> list[str]:
    return [z.strip() for z in text.replace(";", ",").split(",") if z.strip()]


def _page(
    request: Request, db: DbDep, values: dict[str, str], errors: dict[str, str], **extra: Any
) -> dict[str, Any]:
    return {
        "title": "Người dùng",
        "active": BASE,
        "users": accounts.list_users(db),
        "values": values,
        "errors": errors,
        **extra,
    }


@router.get(BASE)
def users_page(request: Request, actor: PageActor, db: DbDep, tb: str = "") -> Response:
    """The accounts, and a form to add one."""
    require_admin(actor)
    flash = {"added": "Đã thêm người dùng.", "changed": "Đã lưu thay đổi."}.get(tb)
    return render(request, "users.html", _page(request, db, {"role": "operator"}, {}, flash=flash))


@router.post(BASE)
async def add_user(request: Request, uc: PageUseCase) -> Response:
    """Add an account; errors beside the fields, what was typed kept (but the password)."""
    db = uc.db
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    password = str(form.get("password", ""))
    try:
        account_cases.add_user(
            uc,
            values.get("username", ""),
            role=values.get("role", ""),
            password=password,
            zones=_zones(",".join(str(z) for z in form.getlist("zones"))),
            full_name=values.get("full_name", ""),
        )
    except AccountError as exc:
        db.rollback()
        errors = {exc.field or "username": exc.message_vi}
        return render(request, "users.html", _page(request, db, values, errors), status=422)
    return RedirectResponse(f"{BASE}?tb=added", status_code=303)


@router.post(BASE + "/{user_id}")
async def change_user(request: Request, user_id: int, uc: PageUseCase) -> Response:
    """Lock, unlock, or change role and zones of one account."""
    db = uc.db
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"no user {user_id}")
    form = await request.form()
    action = str(form.get("action", ""))
    try:
        if action in ("lock", "unlock"):
            account_cases.change_user(uc, user_id, active=action == "unlock")
        else:
            account_cases.change_user(
                uc,
                user_id,
                role=str(form.get("role", user.role)),
                zones=_zones(",".join(str(z) for z in form.getlist("zones"))),
            )
    except AccountError as exc:
        db.rollback()
        ctx = _page(
            request, db, {"role": "operator"}, {}, error=f"{user.username}: {exc.message_vi}"
        )
        return render(request, "users.html", ctx, status=422)
    return RedirectResponse(f"{BASE}?tb=changed", status_code=303)
