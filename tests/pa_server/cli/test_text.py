"""`pa-server normalize` and `pa-server scripts`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pa_server.cli import main


def test_normalize_prints_spoken_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["normalize", "Ngày 29/7, UBND xã có 21 thôn"]) == 0
    out = capsys.readouterr().out
    assert out == "Ngày hai mươi chín tháng bảy, ủy ban nhân dân xã có hai mươi mốt thôn\n"


def test_normalize_pieces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["normalize", "--pieces", "Một câu. Câu hai!"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Một câu.", "Câu hai!"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["normalize", "   "], "text is empty"),
        (["normalize", "x" * 5001], "limit is 5000"),
        (["normalize", "?!…"], "nothing to say"),
        (["scripts", "nope"], "unknown script 'nope'"),
        (["scripts", "bluezone-cai-dat", "--set", "commune=A"], "{district}, {hotline}"),
        (["scripts", "bluezone-nhac-lai", "--set", "x=1"], "no placeholder {x}"),
        (["scripts", "bluezone-nhac-lai", "--set", "commune"], "KEY=VALUE"),
        (["normalize", "--abbreviations", "/nonexistent.tsv", "UBND"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_on_stderr(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err


def test_extra_abbreviations_from_argument_and_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "ours.tsv"
    table.write_text("HTXNN\thợp tác xã nông nghiệp\n", "utf-8")
    assert main(["normalize", "--abbreviations", str(table), "HTXNN Tân Tiến"]) == 0
    assert capsys.readouterr().out == "hợp tác xã nông nghiệp Tân Tiến\n"
    monkeypatch.setenv("PA_ABBREVIATIONS_FILE", str(table))
    assert main(["normalize", "HTXNN"]) == 0
    assert capsys.readouterr().out == "hợp tác xã nông nghiệp\n"


def test_scripts_lists_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts"]) == 0
    out = capsys.readouterr().out
    assert "bluezone-cai-dat" in out and "{commune}, {district}, {hotline}" in out
    assert "repeats: 2" in out and "khai-bao-y-te" in out


def test_scripts_shows_filled_and_spoken(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scripts", "bluezone-nhac-lai", "--set", "commune=Tân Tiến"]) == 0
    out = capsys.readouterr().out
    assert "UBND xã Tân Tiến" in out and "ủy ban nhân dân xã Tân Tiến" in out
    assert "cô vít mười chín" in out
