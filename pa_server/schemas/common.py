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
_NEWLINES = re.compile(r"\r\n?")


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first character `value` must not hold, or None when it is clean."""
    found = (_UNSAFE_MULTI if multiline else _UNSAFE_SINGLE).search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"{kind} U+{code:04X} at position {found.start()}"


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
