"""RenderOptions: every choice that shapes a broadcast's sound, one frozen validated value.

The compose page, the API and `pa-server say` all build this one value and hand it to
`audio.render.Renderer.render`, so the same options give the same bytes wherever they come
from; the server stores it with the announcement as JSON (`to_json` / `from_json`).
Invalid values raise `BadOptions`, which lists every field's error with an English code and
message (for the API) and a Vietnamese message (for the pages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, cast, get_args

from audio.errors import BadOptions, FieldError

Engine = Literal["auto", "gtts", "espeak", "piper"]
Region = Literal["bac", "trung", "nam"]
Format = Literal["mp3", "opus"]

ENGINES: tuple[str, ...] = get_args(Engine)
REGIONS: tuple[str, ...] = get_args(Region)
FORMATS: tuple[str, ...] = get_args(Format)
#: Other spellings of a region accepted on input (stored canonical).
REGION_ALIASES: dict[str, str] = {
    "north": "bac",
    "bắc": "bac",
    "vi": "bac",
    "central": "trung",
    "south": "nam",
    "vi-vn-x-central": "trung",
    "vi-vn-x-south": "nam",
}
REGION_NAMES_VI = {"bac": "Bắc", "trung": "Trung", "nam": "Nam"}

SPEED_RANGE = (0.5, 2.0)
REPEAT_RANGE = (1, 5)
REPEAT_PAUSE_MS_RANGE = (0, 10_000)
COMMA_PAUSE_MS_RANGE = (0, 2_000)
SENTENCE_PAUSE_MS_RANGE = (0, 3_000)
MAX_COMMUNE_CHARS = 80


@dataclass(frozen=True)
class RenderOptions:
    """How an announcement is spoken and laid out; the defaults are the district's defaults.

    The intro ("Đây là Đài truyền thanh xã …") is said when `intro` is on and the commune is
    known; the outro names the commune when it is known.
    """

    engine: Engine = "auto"
    region: Region = "bac"
    speed: float = 1.0
    repeat: int = 2
    repeat_pause_ms: int = 2_000
    comma_pause_ms: int = 200
    sentence_pause_ms: int = 350
    chime: bool = True
    intro: bool = True
    outro: bool = True
    commune: str | None = None
    format: Format = "mp3"
    band_limit: bool = False

    def __post_init__(self) -> None:
        errors = _validate(self)
        if errors:
            raise BadOptions(tuple(errors))
        if self.commune is not None:
            # frozen: normalised in place once, here, so equal names compare equal
            object.__setattr__(self, "commune", " ".join(self.commune.split()))
        object.__setattr__(self, "speed", float(self.speed))

    @property
    def says_intro(self) -> bool:
        """True when the intro is said (asked for, and the commune is known)."""
        return self.intro and self.commune is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, every field present."""
        return asdict(self)

    def to_json(self) -> str:
        """Compact, key-sorted JSON (the same options always give the same string)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderOptions:
        """Options from JSON-like values; missing keys take defaults; raises BadOptions."""
        names = {f.name for f in fields(cls)}
        errors = [
            FieldError(
                str(key), "unknown_field", f"unknown option {key!r}", f"Không có tuỳ chọn «{key}»."
            )
            for key in data
            if key not in names
        ]
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                continue
            if key == "region" and isinstance(value, str):
                value = REGION_ALIASES.get(value.strip().lower(), value.strip().lower())
            error = _type_error(key, value)
            if error is not None:
                errors.append(error)
            else:
                values[key] = value
        if errors:
            # report the well-typed fields' range errors too: one answer lists every problem
            draft = object.__new__(cls)
            for f in fields(cls):
                object.__setattr__(draft, f.name, values.get(f.name, f.default))
            raise BadOptions(tuple(errors + _validate(draft)))
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RenderOptions:
        """Options from `to_json`'s output (or any JSON object of options)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadOptions(
                (
                    FieldError(
                        "",
                        "not_json",
                        f"options are not JSON: {exc}",
                        "Tuỳ chọn không đúng định dạng JSON.",
                    ),
                )
            ) from exc
        if not isinstance(data, dict):
            raise BadOptions(
                (
                    FieldError(
                        "",
                        "not_an_object",
                        "options must be a JSON object",
                        "Tuỳ chọn phải là một đối tượng JSON.",
                    ),
                )
            )
        return cls.from_dict(data)


_INTS = {"repeat", "repeat_pause_ms", "comma_pause_ms", "sentence_pause_ms"}
_BOOLS = {"chime", "intro", "outro", "band_limit"}
_LABELS_VI = {
    "engine": "Giọng đọc",
    "region": "Vùng giọng",
    "speed": "Tốc độ đọc",
    "repeat": "Số lần đọc",
    "repeat_pause_ms": "Khoảng nghỉ giữa các lần đọc",
    "comma_pause_ms": "Khoảng nghỉ ở dấu phẩy",
    "sentence_pause_ms": "Khoảng nghỉ giữa các câu",
    "chime": "Chuông báo",
    "intro": "Lời giới thiệu",
    "outro": "Lời kết",
    "commune": "Tên xã",
    "format": "Định dạng",
    "band_limit": "Lọc dải tần cho loa nén",
}


def _type_error(name: str, value: Any) -> FieldError | None:
    """A FieldError when `value` has the wrong JSON type for option `name`."""
    label = _LABELS_VI[name]
    if name in _BOOLS:
        ok = isinstance(value, bool)
        want, want_vi = "true or false", "có hoặc không"
    elif name in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        want, want_vi = "a whole number", "một số nguyên"
    elif name == "speed":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        want, want_vi = "a number", "một số"
    elif name == "commune":
        ok = value is None or isinstance(value, str)
        want, want_vi = "text", "chữ"
    else:
        ok = isinstance(value, str)
        want, want_vi = "text", "chữ"
    if ok:
        return None
    return FieldError(
        name, "wrong_type", f"{name} must be {want}, not {value!r}", f"{label} phải là {want_vi}."
    )


def _range(
    errors: list[FieldError], name: str, value: float, bounds: tuple[float, float], unit: str = ""
) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:  # NaN fails every comparison: refused too
        errors.append(
            FieldError(
                name,
                "out_of_range",
                f"{name} {value:g}{unit} is outside {lo:g}–{hi:g}{unit}",
                f"{_LABELS_VI[name]} phải từ {_vi(lo)} đến {_vi(hi)}{unit}.",
            )
        )


def _choice(errors: list[FieldError], name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        errors.append(
            FieldError(
                name,
                "unknown_choice",
                f"unknown {name} {value!r} (choose {', '.join(choices)})",
                f"{_LABELS_VI[name]} «{value}» không có; chọn {', '.join(choices)}.",
            )
        )


def _validate(o: RenderOptions) -> list[FieldError]:
    """Every field error of `o` (type errors first: a wrong type is not range-checked)."""
    errors = [
        e for e in (_type_error(f.name, getattr(o, f.name)) for f in fields(o)) if e is not None
    ]
    bad = {e.field for e in errors}
    for name, choices in (("engine", ENGINES), ("region", REGIONS), ("format", FORMATS)):
        if name not in bad:
            _choice(errors, name, cast("str", getattr(o, name)), choices)
    checks: tuple[tuple[str, tuple[float, float], str], ...] = (
        ("speed", SPEED_RANGE, ""),
        ("repeat", REPEAT_RANGE, ""),
        ("repeat_pause_ms", REPEAT_PAUSE_MS_RANGE, " ms"),
        ("comma_pause_ms", COMMA_PAUSE_MS_RANGE, " ms"),
        ("sentence_pause_ms", SENTENCE_PAUSE_MS_RANGE, " ms"),
    )
    for name, bounds, unit in checks:
        if name not in bad:
            _range(errors, name, getattr(o, name), bounds, unit)
    if o.commune is not None and "commune" not in bad:
        commune = " ".join(o.commune.split())
        if not commune:
            errors.append(
                FieldError("commune", "empty", "the commune name is empty", "Tên xã đang để trống.")
            )
        elif len(commune) > MAX_COMMUNE_CHARS:
            errors.append(
                FieldError(
                    "commune",
                    "too_long",
                    f"the commune name is over {MAX_COMMUNE_CHARS} characters",
                    f"Tên xã dài quá {MAX_COMMUNE_CHARS} ký tự.",
                )
            )
    return errors


def _vi(number: float) -> str:
    """A number as Vietnamese writes it (decimal comma)."""
    return f"{number:g}".replace(".", ",")
