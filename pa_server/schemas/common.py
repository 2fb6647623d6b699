"""Shapes shared by every resource: pages, error bodies, instants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

from devices.protocol import format_instant

T = TypeVar("T")

#: An instant in API output: RFC 3339 UTC with `Z`, like the wire.
UTC = Annotated[datetime, PlainSerializer(format_instant, return_type=str)]

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
