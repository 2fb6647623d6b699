"""Thông báo: compose (from scratch or a script), see the spoken form, preview, approve, reject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from announcements.errors import MAX_TEXT_CHARS
from announcements.library import Script
from announcements.normalize import read
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role, require_writer
from pa_server.db.models import Announcement
from pa_server.schemas.announcements import AnnouncementCreate, AnnouncementUpdate, RenderOptions
from pa_server.services import announcements, renditions, rights, scripts, search
from pa_server.services.context import UseCase
from pa_server.services.errors import ServiceError
from pa_server.services.timelines import media_url
from pa_server.web.can import can_change_announcement
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_message, refusal_status, service_message
from pa_server.web.paging import PER_PAGE, page_number, paginate
from pa_server.web.templating import render

router = APIRouter()

BASE = "/thong-bao"
MAX_TEXT = MAX_TEXT_CHARS

#: Labels of the script library's placeholders; an unknown one shows its own name.
PLACEHOLDER_LABELS_VI = {
    "commune": "Tên xã",
    "district": "Tên huyện",
    "hotline": "Số điện thoại đường dây nóng",
    "date": "Ngày",
}


def _scripts() -> list[Script]:
    try:
        return scripts.list_scripts()
    except ServiceError:
        return []


def _script(name: str) -> Script | None:
    return next((s for s in _scripts() if s.name == name), None)


#: The voice choices of the compose page (value, label); the API takes any value in range.
VOICE_CHOICES: dict[str, list[tuple[str, str]]] = {
    "voice": [("bac", "Giọng Bắc"), ("trung", "Giọng Trung"), ("nam", "Giọng Nam")],
    "speed": [("0.8", "Chậm"), ("0.9", "Hơi chậm"), ("1.0", "Bình thường"), ("1.1", "Hơi nhanh")],
    "repeat": [(str(n), f"{n} lần") for n in range(1, 6)],
    "comma_pause_ms": [("100", "Ngắn"), ("200", "Vừa"), ("400", "Dài")],
    "sentence_pause_ms": [("250", "Ngắn"), ("350", "Vừa"), ("700", "Dài")],
}
VOICE_DEFAULTS = {
    "voice": "bac",
    "speed": "1.0",
    "repeat": "2",
    "comma_pause_ms": "200",
    "sentence_pause_ms": "350",
}


def _voice_options(values: dict[str, str]) -> RenderOptions:
    """The compose page's voice choices as render options (an unknown choice: the default)."""
    chosen = {
        key: values.get(key) if values.get(key) in {v for v, _ in options} else VOICE_DEFAULTS[key]
        for key, options in VOICE_CHOICES.items()
    }
    return RenderOptions(
        voice=chosen["voice"],
        speed=float(chosen["speed"] or 1.0),
        repeat=int(chosen["repeat"] or 2),
        comma_pause_ms=int(chosen["comma_pause_ms"] or 200),
        sentence_pause_ms=int(chosen["sentence_pause_ms"] or 350),
        intro=values.get("intro", "1") == "1",
        outro=values.get("outro", "1") == "1",
    )


def _form_context(values: dict[str, str], errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    script = _script(values.get("script", ""))
    placeholders = [
        (f"ph_{p}", PLACEHOLDER_LABELS_VI.get(p, p))
        for p in (script.placeholders if script else ())
    ]
    return {
        "title": "Soạn thông báo",
        "active": BASE,
        # The voice choices start at the same defaults as the API and the CLI.
        "values": {**VOICE_DEFAULTS, **values},
        "errors": errors,
        "scripts": _scripts(),
        "script": script,
        "placeholders": placeholders,
        "max_text": MAX_TEXT,
        "VOICE_CHOICES": VOICE_CHOICES,
        **extra,
    }


def _values(form: FormData) -> dict[str, str]:
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if "voice" in values:  # the compose form was sent: an unticked box is "off"
        values.setdefault("intro", "0")
        values.setdefault("outro", "0")
    return values


def _check(values: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Errors by field, and the text to say (filled script or typed text)."""
    errors: dict[str, str] = {}
    if not values.get("title"):
        errors["title"] = "Vui lòng nhập tiêu đề."
    elif len(values["title"]) > 300:
        errors["title"] = "Tiêu đề dài tối đa 300 ký tự."
    text: str | None = None
    script = _script(values.get("script", ""))
    if values.get("script") and script is None:
        errors["script"] = "Mẫu thông báo không tồn tại."
    elif script is not None:
        filled: dict[str, str] = {}
        for name in script.placeholders:
            value = values.get(f"ph_{name}", "")
            if not value:
                label = PLACEHOLDER_LABELS_VI.get(name, name)
                errors[f"ph_{name}"] = f"Vui lòng điền “{label}”."
            filled[name] = value
        if not any(k.startswith("ph_") for k in errors):
            text = scripts.fill_script(script, filled)
    else:
        text = values.get("text", "")
        if not text:
            errors["text"] = "Vui lòng nhập nội dung thông báo hoặc chọn một mẫu."
        elif len(text) > MAX_TEXT:
            errors["text"] = f"Nội dung dài {len(text)} ký tự, tối đa {MAX_TEXT} ký tự."
    return errors, text


@router.get(BASE)
def list_page(
    request: Request,
    actor: PageActor,
    db: DbDep,
    status: str = "",
    trang: str = "",
    q: str = "",
) -> Response:
    """The announcements, newest first, with what each one waits for; searchable."""
    page = page_number(trang)
    term = search.term(q)
    rows, total = announcements.list_announcements(
        db, status=status or None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE, search=term
    )
    paging = paginate(page, total, query={"status": status, "q": term or ""})
    return render(
        request,
        "announcements.html",
        {
            "title": "Thông báo",
            "active": BASE,
            "rows": rows,
            "status": status,
            "q": term or "",
            "paging": paging,
        },
    )


@router.get(BASE + "/moi")
def compose_page(request: Request, actor: PageActor, script: str = "") -> Response:
    """The compose form, filled from a script when one is chosen."""
    require_writer(actor)
    values: dict[str, str] = {"script": script, "level": "normal"}
    chosen = _script(script)
    if chosen is not None:
        values["title"] = chosen.title
        values["level"] = chosen.level if chosen.level in ("normal", "priority") else "normal"
    return render(request, "announcement_form.html", _form_context(values, {}))


@router.post(BASE + "/moi")
async def compose(request: Request, uc: PageUseCase) -> Response:
    """Show the spoken form (action=spoken) or save the draft and render its preview."""
    values = _values(await request.form())
    errors, text = _check(values)
    if errors or text is None:
        return render(request, "announcement_form.html", _form_context(values, errors), status=422)
    if values.get("action") == "spoken":
        reading = read(text)
        return render(
            request,
            "announcement_form.html",
            _form_context(
                values, {}, filled_text=text, spoken=reading.spoken, changes=reading.spans
            ),
        )
    script = _script(values.get("script", ""))
    data = AnnouncementCreate(
        title=values["title"],
        text=None if script else text,
        script_name=script.name if script else None,
        placeholders={p: values[f"ph_{p}"] for p in script.placeholders} if script else {},
        level=_level(values.get("level", "normal")),
    )
    try:
        ann = announcements.create_announcement(uc, data)
    except (Forbidden, ServiceError) as exc:
        field = "level" if isinstance(exc, Forbidden) else TEXT_FIELDS.get(exc.code, "error")
        ctx = _form_context(values, {field: refusal_message(exc)} if field != "error" else {})
        if field == "error":
            ctx["error"] = refusal_message(exc)
        return render(request, "announcement_form.html", ctx, status=422)
    flash = _render_preview(uc, ann, _voice_options(values))
    return _to_detail(ann.id, flash)


#: Refusals about the typed text, said beside the text field (of a script: beside the script).
TEXT_FIELDS = {"bad_text": "text", "empty_text": "text", "text_too_long": "text"}


def _level(value: str) -> Any:
    return value if value in ("normal", "priority", "emergency") else "normal"


@router.post(BASE + "/moi/ghi-am")
async def compose_recording(request: Request, uc: PageUseCase) -> Response:
    """A draft from a recorded voice (uploaded, or recorded in the browser as WAV)."""
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    upload = form.get("recording")
    errors: dict[str, str] = {}
    title = values.get("rec_title", "")
    if not title:
        errors["rec_title"] = "Vui lòng nhập tiêu đề."
    data = b""
    if isinstance(upload, UploadFile):
        data = await upload.read(renditions.MAX_RECORDING_BYTES + 1)
    if not data:
        errors["recording"] = "Vui lòng chọn hoặc ghi một bản ghi âm."
    if not errors:
        try:
            renditions.probe_audio(data)
        except ServiceError as exc:
            errors["recording"] = RECORDING_ERRORS.get(exc.code, service_message(exc))
    ann: Announcement | None = None
    if not errors:
        filename = upload.filename if isinstance(upload, UploadFile) else None
        try:
            ann = announcements.create_announcement(
                uc,
                AnnouncementCreate(
                    title=title, kind="recording", level=_level(values.get("rec_level", ""))
                ),
            )
            announcements.attach_recording(uc, ann.id, data, filename)
        except (Forbidden, ServiceError) as exc:
            uc.db.rollback()
            errors["rec_level" if isinstance(exc, Forbidden) else "recording"] = refusal_message(
                exc
            )
    if errors or ann is None:
        ctx = _form_context({"script": "", **values}, errors)
        return render(request, "announcement_form.html", ctx, status=422)
    flash = _render_preview(uc, ann)
    return _to_detail(ann.id, flash)


RECORDING_ERRORS = {
    "not_audio": "Tệp không phải âm thanh MP3, WAV, FLAC hoặc Ogg.",
    "upload_too_big": "Tệp ghi âm quá lớn.",
}


def _render_preview(uc: UseCase, ann: Announcement, options: RenderOptions | None = None) -> str:
    """Render the saved draft's preview; a failed render is told, the draft kept."""
    failed = announcements.render_preview(uc, ann.id, options)
    if failed is not None:
        return "Đã lưu bản nháp, nhưng chưa tạo được bản nghe thử: " + refusal_message(failed)
    return "saved"


def _to_detail(announcement_id: str, flash: str = "") -> Response:
    suffix = f"?tb={flash}" if flash in FLASHES else ""
    return RedirectResponse(f"{BASE}/{announcement_id}{suffix}", status_code=303)


FLASHES = {
    "saved": "Đã lưu bản nháp và tạo bản nghe thử. Chờ người duyệt.",
    "approved": "Đã duyệt. Có thể lập lịch phát.",
    "rejected": "Đã từ chối thông báo.",
    "rendered": "Đã tạo lại bản nghe thử.",
    "reading": "Đã lưu cách đọc. Hãy tạo lại bản nghe thử rồi gửi duyệt.",
    "edited": "Đã lưu thay đổi và tạo lại bản nghe thử. Thông báo cần được duyệt lại.",
    "archived": "Đã chuyển thông báo vào lưu trữ: các lịch phát của nó tạm ngừng.",
    "redraft": "Đã mở lại thành bản nháp. Sửa nội dung rồi lưu để gửi duyệt lại.",
}


def _detail(
    request: Request, actor: Actor, db: DbDep, ann: Announcement, **extra: Any
) -> dict[str, Any]:
    rendition = ann.rendition
    audio_url = media_url("", rendition.sha256, rendition.ext) if rendition else None
    reading = announcements.reading(ann)
    spoken = rendition.spoken_text if rendition and rendition.spoken_text else None
    if spoken is None and reading is not None:
        spoken = reading.spoken
    try:
        rights.require_approval(db, actor, ann)
        may_approve = ann.status == "draft"
    except Forbidden:
        may_approve = False
    return {
        "title": ann.title,
        "active": BASE,
        "ann": ann,
        "audio_url": audio_url,
        "spoken": spoken,
        "changes": reading.spans if reading is not None else (),
        "may_approve": may_approve,
        "is_author": ann.author == actor.name,
        "may_write": actor.role is not Role.VIEWER,
        "may_change": can_change_announcement(db, actor, ann),
        "rejection": announcements.last_rejection(db, ann.id),
        "errors": {},
        "values": {},
        **extra,
    }


@router.get(BASE + "/{announcement_id}")
def detail_page(
    request: Request, announcement_id: str, actor: PageActor, db: DbDep, tb: str = ""
) -> Response:
    """One announcement: text, spoken form, audio preview, and what can be done next."""
    ann = announcements.get_announcement(db, announcement_id)
    return render(
        request, "announcement.html", _detail(request, actor, db, ann, flash=FLASHES.get(tb))
    )


def _refused(request: Request, uc: UseCase, ann_id: str, exc: Forbidden | ServiceError) -> Response:
    uc.db.rollback()
    ann = announcements.get_announcement(uc.db, ann_id)
    ctx = _detail(request, uc.actor, uc.db, ann, error=refusal_message(exc))
    return render(
        request, "announcement.html", ctx, status=403 if isinstance(exc, Forbidden) else exc.status
    )


@router.post(BASE + "/{announcement_id}/cach-doc")
async def add_reading(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Read one part of the text as the operator says (the announcement returns to approval)."""
    values = _values(await request.form())
    errors: dict[str, str] = {}
    if not values.get("written"):
        errors["written"] = "Vui lòng ghi đúng chữ như trong bài."
    if not values.get("spoken"):
        errors["spoken"] = "Vui lòng ghi cách đọc."
    elif any(c.isdigit() for c in values["spoken"]):
        errors["spoken"] = "Cách đọc phải viết bằng chữ, không dùng chữ số."
    if not errors:
        try:
            announcements.add_reading(uc, announcement_id, values["written"], values["spoken"])
        except ServiceError as exc:
            if exc.code != "reading_not_in_text":
                return _refused(request, uc, announcement_id, exc)
            uc.db.rollback()
            errors["written"] = "Bài không có chữ này (hoặc chữ này đã có cách đọc riêng)."
        except Forbidden as exc:
            return _refused(request, uc, announcement_id, exc)
    if errors:
        ann = announcements.get_announcement(uc.db, announcement_id)
        ctx = _detail(request, uc.actor, uc.db, ann, errors=errors, values=values)
        return render(request, "announcement.html", ctx, status=422)
    return _to_detail(announcement_id, "reading")


@router.post(BASE + "/{announcement_id}/nghe-thu")
def rerender(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Render the preview again."""
    try:
        announcements.render_announcement(uc, announcement_id)
    except (Forbidden, ServiceError) as exc:
        return _refused(request, uc, announcement_id, exc)
    return _to_detail(announcement_id, "rendered")


@router.post(BASE + "/{announcement_id}/duyet")
def approve(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Approve: only an approver who did not write the last change."""
    try:
        announcements.approve_announcement(uc, announcement_id)
    except (Forbidden, ServiceError) as exc:
        return _refused(request, uc, announcement_id, exc)
    return _to_detail(announcement_id, "approved")


@router.post(BASE + "/{announcement_id}/tu-choi")
async def reject(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Reject with a reason: the draft is archived and the reason kept in the audit log."""
    values = _values(await request.form())
    reason = values.get("reason", "")
    if not reason:
        ann = announcements.get_announcement(uc.db, announcement_id)
        ctx = _detail(
            request,
            uc.actor,
            uc.db,
            ann,
            errors={"reason": "Vui lòng ghi lý do từ chối."},
            values=values,
        )
        return render(request, "announcement.html", ctx, status=422)
    try:
        announcements.reject_announcement(uc, announcement_id, reason)
    except (Forbidden, ServiceError) as exc:
        return _refused(request, uc, announcement_id, exc)
    return _to_detail(announcement_id, "rejected")


def _edit_context(
    ann: Announcement, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "title": "Sửa thông báo",
        "active": BASE,
        "ann": ann,
        "values": values,
        "errors": errors,
        "max_text": MAX_TEXT,
    }


def _changeable(db: DbDep, actor: Actor, announcement_id: str) -> Announcement:
    """The announcement, if this person may change it; else the service's own refusal."""
    ann = announcements.get_announcement(db, announcement_id)
    if not can_change_announcement(db, actor, ann):
        rights.require_announcement(db, actor, ann)
        raise Forbidden("not_writer", "Bạn không được sửa thông báo này.")
    return ann


@router.get(BASE + "/{announcement_id}/sua")
def edit_page(
    request: Request, announcement_id: str, actor: PageActor, db: DbDep, tb: str = ""
) -> Response:
    """Title, text and level of a draft or approved announcement (approved: approval again)."""
    ann = _changeable(db, actor, announcement_id)
    if ann.status == "archived":
        return _to_detail(ann.id)
    values = {"title": ann.title, "text": ann.text or "", "level": ann.level}
    ctx = _edit_context(ann, values, {}) | {"flash": FLASHES.get(tb) if tb == "redraft" else None}
    return render(request, "announcement_edit.html", ctx)


@router.post(BASE + "/{announcement_id}/sua")
async def edit(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Save the changes through the service (which returns an approved text to approval)."""
    values = _values(await request.form())
    ann = announcements.get_announcement(uc.db, announcement_id)
    errors: dict[str, str] = {}
    if not values.get("title"):
        errors["title"] = "Vui lòng nhập tiêu đề."
    elif len(values["title"]) > 300:
        errors["title"] = "Tiêu đề dài tối đa 300 ký tự."
    recording = ann.kind == "recording"
    text = values.get("text", "")
    if not recording and not text:
        errors["text"] = "Vui lòng nhập nội dung thông báo."
    elif len(text) > MAX_TEXT:
        errors["text"] = f"Nội dung dài {len(text)} ký tự, tối đa {MAX_TEXT} ký tự."
    if errors:
        ctx = _edit_context(ann, values, errors)
        return render(request, "announcement_edit.html", ctx, status=422)
    changes: dict[str, Any] = {"title": values["title"], "level": _level(values.get("level", ""))}
    if not recording and text != (ann.text or ""):
        changes |= {"text": text, "script_name": None, "placeholders": {}}
    try:
        announcements.update_announcement(uc, announcement_id, AnnouncementUpdate(**changes))
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ann = announcements.get_announcement(uc.db, announcement_id)
        field = "level" if isinstance(exc, Forbidden) else TEXT_FIELDS.get(exc.code, "title")
        ctx = _edit_context(ann, values, {field: refusal_message(exc)})
        return render(request, "announcement_edit.html", ctx, status=refusal_status(exc))
    ann = announcements.get_announcement(uc.db, announcement_id)
    if ann.rendition is None:
        flash = _render_preview(uc, ann)
        return _to_detail(announcement_id, "edited" if flash == "saved" else flash)
    return _to_detail(announcement_id, "edited")


def _set_status(request: Request, uc: UseCase, announcement_id: str, status: Any) -> Response:
    try:
        announcements.update_announcement(uc, announcement_id, AnnouncementUpdate(status=status))
    except (Forbidden, ServiceError) as exc:
        return _refused(request, uc, announcement_id, exc)
    if status == "draft":
        return RedirectResponse(f"{BASE}/{announcement_id}/sua?tb=redraft", status_code=303)
    return _to_detail(announcement_id, "archived")


@router.post(BASE + "/{announcement_id}/luu-tru")
def archive(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Archive: it leaves the lists of work and its schedules stop playing it."""
    return _set_status(request, uc, announcement_id, "archived")


@router.post(BASE + "/{announcement_id}/soan-lai")
def redraft(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Re-draft a rejected (archived) announcement: a draft again, opened for editing."""
    return _set_status(request, uc, announcement_id, "draft")
