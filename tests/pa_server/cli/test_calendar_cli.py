"""`pa-server calendar`: holidays and lunar dates at the console."""

from __future__ import annotations

import pytest

from pa_server.cli import main


def test_tet_2028_at_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "2028-01-24", "--days", "4"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2028-01-24  28/12 Đinh Mùi  29 Tết",
        "2028-01-25  29/12 Đinh Mùi  Giao thừa Tết Nguyên Đán",
        "2028-01-26  1/1 Mậu Thân  Tết Nguyên Đán",
        "2028-01-27  2/1 Mậu Thân  Mùng hai Tết Nguyên Đán",
    ]


def test_every_day_and_leap_months(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "2028-06-22", "--days", "2", "--all"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2028-06-22  30/5 Mậu Thân",
        "2028-06-23  1/5 nhuận Mậu Thân  Mùng 1 tháng 5 nhuận âm lịch",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["calendar", "2028-13-01"], "not a date"), (["calendar", "--days", "0"], "--days must")],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
