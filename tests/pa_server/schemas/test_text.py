"""Text fields refuse NUL and other control characters with a 422, on SQLite and PostgreSQL.

PostgreSQL refuses a NUL in text outright; before these checks that surfaced as a 500 on
sign-in, the public page and most writes. Bodies are checked by the schemas' `SingleLine` /
`MultiLine`, paths and query strings at the door (`pa_server.api.request_line`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import AfterValidator, BaseModel, ValidationError

import pa_server.schemas
from pa_server.api.accounts import TokenCreate
from pa_server.schemas.common import Input, MultiLine, SingleLine, unsafe_character
from tests.pa_server.api.test_api import V1, approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api

BAD = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\ud800"]


class Sample(BaseModel):
    line: SingleLine = ""
    body: MultiLine = ""


@pytest.mark.parametrize("bad", BAD)
def test_single_and_multi_line_refuse_control_characters(bad: str) -> None:
    for field in ("line", "body"):
        with pytest.raises(ValidationError) as info:
            Sample.model_validate({field: f"Xã{bad}A"})
        [error] = info.value.errors()
        assert error["type"] == "control_character"
        assert f"U+{ord(bad[0]):04X} at position 2" in error["msg"]


def test_line_breaks_and_tabs_only_in_multi_line_text() -> None:
    got = Sample(body="Dòng 1\r\nDòng 2\rDòng 3\n\tcuối")
    assert got.body == "Dòng 1\nDòng 2\nDòng 3\n\tcuối"
    for bad in ("a\nb", "a\tb", "a\rb"):
        with pytest.raises(ValidationError):
            Sample(line=bad)
    assert Sample(line="Thông báo “khẩn” — 100%").line == "Thông báo “khẩn” — 100%"
    assert unsafe_character("a\nb", multiline=True) is None


def _safe_validators(metadata: list[Any]) -> bool:
    guarded = {v.func for v in (getattr(SingleLine, "__metadata__", ()))}
    guarded |= {v.func for v in (getattr(MultiLine, "__metadata__", ()))}
    return any(isinstance(m, AfterValidator) and m.func in guarded for m in metadata)


def _unguarded(annotation: Any, metadata: list[Any]) -> bool:
    """Whether `annotation` holds a plain `str` somewhere, without SingleLine/MultiLine."""
    if annotation is str:
        return not _safe_validators(metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _unguarded(inner, [*metadata, *extra])
    if origin in (Union, types.UnionType, list, dict, tuple, set, frozenset):
        return any(_unguarded(arg, []) for arg in get_args(annotation) if arg is not type(None))
    return False


def _input_models() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = [TokenCreate]
    for info in pkgutil.iter_modules(pa_server.schemas.__path__):
        module = importlib.import_module(f"pa_server.schemas.{info.name}")
        models += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Input) and obj is not Input
        ]
    return models


def test_every_text_field_of_every_request_body_is_guarded() -> None:
    models = _input_models()
    assert len(models) >= 10
    unguarded = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if _unguarded(field.annotation, list(field.metadata))
    ]
    assert unguarded == []


# ----------------------------------------------------------------- the API, on both databases


def test_bodies_with_nul_are_refused_with_422(api: Api) -> None:
    seed_zones(api)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{V1}/zones", {"path": "vinh-tuong/xa\x00", "name": "Xã"}),
        ("POST", f"{V1}/zones", {"path": "vinh-tuong/xa-b", "name": "Xã\x00B"}),
        ("PATCH", f"{V1}/zones/vinh-tuong", {"name": "Huyện\x00"}),
        ("POST", f"{V1}/devices", {"id": "loa-09", "zone": "vinh-tuong", "name": "\x00"}),
        ("POST", f"{V1}/announcements", {"title": "Tin\x00", "text": "Nội dung"}),
        ("POST", f"{V1}/announcements", {"title": "Tin", "text": "Nội\x00dung"}),
        ("POST", f"{V1}/scripts/x/render", {"values": {"ngay": "\x00"}}),
    ]
    for method, url, body in cases:
        detail = api.refused(method, url, "invalid_input", json=body)
        assert any(e["type"] == "control_character" for e in detail["errors"]), detail
        assert "control character" in detail["message"] or "surrogate" in detail["message"]


def test_a_lone_surrogate_is_refused(api: Api) -> None:
    # Python's JSON decoder (FastAPI's) accepts "\ud800"; PostgreSQL cannot store it.
    raw = b'{"title": "Tin", "text": "Lone \\ud800 surrogate"}'
    headers = {"content-type": "application/json"}
    detail = api.refused(
        "POST", f"{V1}/announcements", "invalid_input", content=raw, headers=headers
    )
    assert "lone surrogate U+D800" in detail["message"]


def test_schedule_fields_with_nul_are_refused(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    for over in ({"rrule": "FREQ=DAILY\x00"}, {"title": "\x00"}, {"timezone": "Asia/\x00"}):
        body = schedule_body(ann["id"], **over)
        api.refused("POST", f"{V1}/schedules", "invalid_input", json=body)


def test_multi_line_text_keeps_its_line_breaks(api: Api) -> None:
    ann = api.ok(
        "POST", f"{V1}/announcements", 201, json={"title": "Tin", "text": "Dòng 1\r\nDòng 2"}
    )
    assert ann["text"] == "Dòng 1\nDòng 2"


def test_paths_and_query_parameters_with_nul_are_refused(api: Api) -> None:
    seed_zones(api)
    for url in (
        f"{V1}/zones/vinh-tuong%00",
        f"{V1}/devices/loa%0001",
        f"{V1}/announcements/a%00b",
        f"{V1}/schedules/%1b",
        f"{V1}/devices?zone=vinh-tuong%00",
        f"{V1}/reports/playback?zone=%00",
        f"{V1}/devices?%00=1",
    ):
        detail = api.refused("GET", url, "control_character")
        assert "U+00" in detail["message"]
    assert api.refused("DELETE", f"{V1}/devices/loa-01%00", "control_character")
    # Everything else still routes.
    api.ok("GET", f"{V1}/zones/vinh-tuong")
    api.ok("GET", f"{V1}/devices?zone=vinh-tuong")


def test_an_uploaded_recording_named_with_a_nul_is_refused(api: Api) -> None:
    ann = api.ok("POST", f"{V1}/announcements", 201, json={"title": "T", "kind": "recording"})
    # A literal NUL in the multipart header (httpx would percent-encode it).
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\nRIFF\r\n--b--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=b"}
    url = f"{V1}/announcements/{ann['id']}/recording"
    detail = api.refused("POST", url, "control_character", content=body, headers=headers)
    assert "U+0000" in detail["message"]
