"""/api/v1/scripts: the script library, and filling a script's placeholders."""

from __future__ import annotations

from fastapi import APIRouter

from announcements.library import Script
from pa_server.schemas.scripts import ScriptFill, ScriptFilled, ScriptPublic
from pa_server.services import scripts

router = APIRouter(prefix="/scripts", tags=["scripts"])


def _public(script: Script) -> ScriptPublic:
    return ScriptPublic(
        name=script.name,
        title=script.title,
        text=script.text,
        placeholders=list(script.placeholders),
        repeats=script.repeats,
        priority=script.priority,
        level=script.level,
        description=script.description,
    )


@router.get("", response_model=list[ScriptPublic])
def list_scripts() -> list[ScriptPublic]:
    """Every script of the library."""
    return [_public(s) for s in scripts.list_scripts()]


@router.get("/{name}", response_model=ScriptPublic)
def get_script(name: str) -> ScriptPublic:
    """One script."""
    return _public(scripts.get_script(name))


@router.post("/{name}/render", response_model=ScriptFilled)
def fill_script(name: str, data: ScriptFill) -> ScriptFilled:
    """The script's text with the given placeholder values, and its spoken form."""
    text = scripts.fill_script(scripts.get_script(name), data.values)
    return ScriptFilled(name=name, text=text, spoken=scripts.spoken_form(text))
