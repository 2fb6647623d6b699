"""The script library: every script loads, reads well once filled, and fill() refuses gaps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from announcements.errors import (
    MissingPlaceholder,
    ScriptFileError,
    UnknownPlaceholder,
    UnknownScript,
)
from announcements.library import fill, get_script, list_scripts, load_script
from announcements.normalize import check_text, split_sentences

VALUES = {
    "commune": "Tân Tiến",
    "district": "Vĩnh Tường",
    "hotline": "0211 3861 234",
    "date": "30/8/2020",
}


def test_library_has_the_campaign_scripts() -> None:
    names = {s.name for s in list_scripts()}
    assert {"bluezone-cai-dat", "khai-bao-y-te", "bo-y-te-5k", "can-bo-guong-mau"} <= names


@pytest.mark.parametrize("script", list_scripts(), ids=lambda s: s.name)
def test_every_script_fills_and_speaks(script: object) -> None:
    from announcements.library import Script

    assert isinstance(script, Script)
    assert script.title and script.description and 1 <= script.repeats <= 10
    assert script.priority in (50, 80, 100) and "commune" in script.placeholders
    text = fill(script, {k: VALUES[k] for k in script.placeholders})
    assert "{" not in text and "Tân Tiến" in text
    spoken = check_text(text)
    assert not re.search(r"\d|http|www|UBND|MTTQ", spoken)
    assert all(len(p) <= 100 for p in split_sentences(spoken))


def test_bluezone_script_placeholders_and_spoken_hotline() -> None:
    script = get_script("bluezone-cai-dat")
    assert script.placeholders == ("commune", "district", "hotline")
    spoken = check_text(fill(script, {k: VALUES[k] for k in script.placeholders}))
    assert "không hai một một, ba tám sáu một, hai ba bốn" in spoken
    assert "blu dôn chấm gờ o vê chấm vê en" in spoken


def test_values_are_inserted_verbatim() -> None:
    script = get_script("bluezone-nhac-lai")
    assert fill(script, {"commune": "{district} & Co"}).startswith("UBND xã {district} & Co nhắc")


def test_missing_placeholders_are_all_named() -> None:
    with pytest.raises(MissingPlaceholder) as err:
        fill(get_script("bluezone-cai-dat"), {"commune": "Tân Tiến", "hotline": "  "})
    assert err.value.names == ("district", "hotline")
    assert "{district}" in str(err.value) and "{hotline}" in str(err.value)


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(UnknownPlaceholder, match=r"\{comune\}"):
        fill(get_script("bluezone-nhac-lai"), {"comune": "Tân Tiến"})


@pytest.mark.parametrize("name", ["nope", "../secret", "Bluezone-Cai-Dat", ""])
def test_unknown_script(name: str) -> None:
    with pytest.raises(UnknownScript):
        get_script(name)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('title = "T"\nlevel = "normal"\n', "'text'"),
        ('title = "T"\ntext = "x"\nlevel = "loud"\n', "level"),
        ('title = "T"\ntext = "x"\nlevel = "normal"\nrepeats = 0\n', "repeats"),
        ('title = "T"\ntext = "x {Commune}"\nlevel = "normal"\n', "brace"),
        ('title = "T"\ntext = "x"\nlevel = "normal"\ncolour = 1\n', "colour"),
        ("title = \n", "cannot read"),
    ],
)
def test_bad_script_file(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, "utf-8")
    with pytest.raises(ScriptFileError, match=problem):
        load_script(path)
