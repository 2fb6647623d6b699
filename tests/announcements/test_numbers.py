"""Vietnamese number words by the real rules."""

from __future__ import annotations

import pytest

from announcements.numbers import (
    cardinal,
    cardinal_text,
    decimal,
    digit_by_digit,
    ordinal,
    roman_to_int,
)


@pytest.mark.parametrize(
    ("n", "spoken"),
    [
        (0, "không"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (55, "năm mươi lăm"),
        (100, "một trăm"),
        (101, "một trăm linh một"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (115, "một trăm mười lăm"),
        (999, "chín trăm chín mươi chín"),
        (1001, "một nghìn không trăm linh một"),
        (1010, "một nghìn không trăm mười"),
        (1250, "một nghìn hai trăm năm mươi"),
        (2020, "hai nghìn không trăm hai mươi"),
        (2021, "hai nghìn không trăm hai mươi mốt"),
        (110_000, "một trăm mười nghìn"),
        (2_000_000, "hai triệu"),
        (1_000_005, "một triệu không trăm linh năm"),
        (3_500_000_000, "ba tỷ năm trăm triệu"),
        (1_000_000_000_000, "một nghìn tỷ"),
        (-5, "âm năm"),
    ],
)
def test_cardinal(n: int, spoken: str) -> None:
    assert cardinal(n) == spoken


def test_ordinal_uses_nhat_and_tu() -> None:
    assert [ordinal(n) for n in (1, 2, 4, 7, 10)] == ["nhất", "hai", "tư", "bảy", "mười"]


def test_codes_and_very_long_numbers_are_read_digit_by_digit() -> None:
    assert cardinal_text("05") == "năm"
    assert cardinal_text("0123") == "không một hai ba"
    assert cardinal_text("9" * 30) == " ".join(["chín"] * 30)
    assert digit_by_digit("1900") == "một chín không không"


def test_decimal_reads_comma_as_phay_and_leading_zeros() -> None:
    assert decimal("37", "5") == "ba mươi bảy phẩy năm"
    assert decimal("2", "05") == "hai phẩy không năm"
    assert decimal("0", "25") == "không phẩy hai mươi lăm"


@pytest.mark.parametrize(
    ("roman", "value"), [("I", 1), ("IV", 4), ("XIII", 13), ("XXI", 21), ("MMXX", 2020)]
)
def test_roman(roman: str, value: int) -> None:
    assert roman_to_int(roman) == value


@pytest.mark.parametrize("bad", ["", "IIII", "VV", "IC", "ABC", "xiii"])
def test_not_roman(bad: str) -> None:
    assert roman_to_int(bad) is None
