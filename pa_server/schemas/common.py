"""Shapes shared by every resource: pages, error bodies, instants, text fields."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic_core import PydanticCustomError

from devices.protocol import format_instant

T = TypeVar("T")

#: An instant in API output: RFC 3339 UTC with `Z`, like the wire.
UTC = Annotated[datetime, PlainSerializer(format_instant, return_type=str)]

# C0 and C1 control characters, DEL, and UTF-16 surrogates (JSON's "\ud800" gives one alone).
# PostgreSQL refuses NUL in text (a 500 before this check), none of them belongs in a title,
# a name or a slug, and they can hide text from the people who read it.
_UNSAFE_SINGLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Multi-line text keeps line breaks (LF, CR: `MultiLine` turns CR LF and CR into LF) and tabs.
_UNSAFE_MULTI = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Bidirectional embeddings, overrides and isolates turn text around on screen ("\u202enád póH"
# shows as "Hóp dân"): what people read would not be what was written. Refused everywhere.
_BIDI = "\u202a-\u202e\u2066-\u2069"
# Invisible characters (zero-width space and joiners, LRM/RLM, word joiner, BOM) hide a
# difference between two titles or names that look the same. Refused in one-line fields;
# long texts keep them (pasted documents carry them; speech normalisation drops them).
_INVISIBLE = "\u200b-\u200f\u2060-\u2064\ufeff"
_FORMAT_SINGLE = re.compile(f"[{_BIDI}{_INVISIBLE}]")
_FORMAT_MULTI = re.compile(f"[{_BIDI}]")
_NEWLINES = re.compile(r"\r\n?")


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first character `value` must not hold, or None when it is clean."""
    found = (_UNSAFE_MULTI if multiline else _UNSAFE_SINGLE).search(value)
    if found is None:
        hidden = (_FORMAT_MULTI if multiline else _FORMAT_SINGLE).search(value)
        if hidden is None:
            return None
        code, at = ord(hidden.group()), hidden.start()
        return f"invisible or direction character U+{code:04X} at position {at}"
    code = ord(found.group())
    kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"{kind} U+{code:04X} at position {found.start()}"


def whole_number(text: str) -> int | None:
    """`text` as a non-negative integer if it is ASCII digits only, else None.

    `str.isdigit()` is also true for "²", "¹⁰" and "③", which `int()` refuses (a 500 on the
    page that trusted it) and "٣٠", which it reads as 30: a form or query number is 0-9 only.
    """
    return int(text) if text.isascii() and text.isdigit() else None


def _single_line(value: str) -> str:
    why = unsafe_character(value)
    if why is not None:
        raise PydanticCustomError("control_character", "text must not hold a {why}", {"why": why})
    return value


def _multi_line(value: str) -> str:
    value = _NEWLINES.sub("\n", value)
    why = unsafe_character(value, multiline=True)
    if why is not None:
        raise PydanticCustomError("control_character", "text must not hold a {why}", {"why": why})
    return value


#: Every text field of a request body: one line, no control characters (422 otherwise).
SingleLine = Annotated[str, AfterValidator(_single_line)]
#: Text that may run over several lines (an announcement's body): line feeds and tabs allowed.
MultiLine = Annotated[str, AfterValidator(_multi_line)]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Past this an offset overflows the database's integers (SQLite and PostgreSQL: 64 bits).
MAX_OFFSET = 2**62


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """Base of response bodies, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, and `total` matching rows."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    """`code` for machines, `message` for people; `errors` lists field problems if any."""

    code: str
    message: str
    errors: list[dict[str, object]] | None = None


class ErrorBody(BaseModel):
    """Every error response: `{"detail": {"code": …, "message": …}}`."""

    detail: ErrorDetail
