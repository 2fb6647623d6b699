"""Script library shapes."""

from __future__ import annotations

from pydantic import Field

from pa_server.schemas.common import Input, MultiLine, Output, SingleLine


class ScriptPublic(Output):
    name: str
    title: str
    text: str
    placeholders: list[str]
    repeats: int
    priority: int
    level: str
    description: str = ""


class ScriptFill(Input):
    values: dict[SingleLine, MultiLine] = Field(default_factory=dict)


class ScriptFilled(Output):
    name: str
    text: str
    spoken: str
