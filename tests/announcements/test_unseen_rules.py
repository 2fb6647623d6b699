"""Readings that announcements the team had not seen got wrong, each beside its contrast.

Every row pair is one rule: the case the unseen texts broke, and the neighbouring case the rule
must leave as it was (so a rule that only moved the mistake fails here).
"""

from __future__ import annotations

import re

import pytest

from announcements.normalize import normalize


def said(text: str) -> str:
    """Spoken form, lower-case, punctuation folded to spaces (as a listener hears it)."""
    return " ".join(re.sub(r"[^\w]+", " ", normalize(text).lower()).split())


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # a colon followed by a space is a label, not a clock, unless a time word asks for one
        ("Thôn 1: 25 hộ; thôn 2: 30 hộ.", "thôn một hai mươi lăm hộ thôn hai ba mươi hộ"),
        (
            "- Thôn 3, thôn 4: 13h30 ngày 3/11",
            "thôn ba thôn bốn mười ba giờ ba mươi phút ngày ba tháng mười một",
        ),
        ("họp lúc 19: 30 tối nay", "họp lúc mười chín giờ ba mươi phút tối nay"),
        ("phát lúc 05:30 hằng ngày", "phát lúc năm giờ ba mươi phút hằng ngày"),
        # a leading plus (water level above datum) is not said; a minus is
        ("mực nước +5,2m", "mực nước năm phẩy hai mét"),
        ("mực nước -0,5m", "mực nước âm không phẩy năm mét"),
        ("km 15+200", "ki lô mét mười lăm cộng hai trăm"),
        ("+84 912 345 678", "cộng tám bốn chín một hai ba bốn năm sáu bảy tám"),
        # house and alley numbers: "trên", never a date
        ("số 12/3 ngõ 45", "số mười hai trên ba ngõ bốn mươi lăm"),
        ("số nhà 12/3", "số nhà mười hai trên ba"),
        ("ngách 3/12, phố Hàng Bạc", "ngách ba trên mười hai phố hàng bạc"),
        ("kiệt 12/4 Trần Phú", "kiệt mười hai trên bốn trần phú"),
        ("ngõ 19/5", "ngõ mười chín tháng năm"),
        ("Đường 19/5", "đường mười chín tháng năm"),
        # a prefix the text already says in words is said once
        ("Đường tỉnh ĐT.534 đoạn", "đường tỉnh năm trăm ba mươi tư đoạn"),
        ("trên đường ĐH.12", "trên đường huyện mười hai"),
        ("Quốc lộ QL1A", "quốc lộ một a"),
        ("Xã X.Tân Tiến", "xã tân tiến"),
        ("tuyến ĐT.305", "tuyến đường tỉnh ba trăm linh năm"),
        # a count out of a total written with thousands dots
        (
            "trúng cử với 2.145/2.300 phiếu",
            "trúng cử với hai nghìn một trăm bốn mươi lăm trên hai nghìn ba trăm phiếu",
        ),
        ("hiện có 15/20 giường trống", "hiện có mười lăm trên hai mươi giường trống"),
        ("khoảng 1/2 số hộ", "khoảng một phần hai số hộ"),
        # a range between two day/month dates
        (
            "Hồ sơ nhận từ 1/7 – 15/7/2023.",
            "hồ sơ nhận từ ngày một tháng bảy đến ngày mười lăm tháng bảy"
            " năm hai nghìn không trăm hai mươi ba",
        ),
        ("từ 15/8-20/8", "từ ngày mười lăm tháng tám đến ngày hai mươi tháng tám"),
        # day-month with a hyphen after a day word, when it cannot be a range of days
        ("sáng 15-8", "sáng ngày mười lăm tháng tám"),
        ("ngày 15-8", "ngày mười lăm tháng tám"),
        ("ngày 5-6 tháng tới", "ngày năm đến sáu tháng tới"),
        ("cấp 8-9", "cấp tám đến chín"),
        # coordinates
        (
            "tâm bão ở khoảng 16,2°N-112,5°E",
            "tâm bão ở khoảng mười sáu phẩy hai độ vĩ bắc một trăm mười hai phẩy năm độ kinh đông",
        ),
        ("18,5 độ Vĩ Bắc", "mười tám phẩy năm độ vĩ bắc"),
        # landlines with long or single-digit groups
        ("ĐT 0238.3844123", "điện thoại không hai ba tám ba tám bốn bốn một hai ba"),
        ("ĐT: (0238) 3.844.123", "điện thoại không hai ba tám ba tám bốn bốn một hai ba"),
        ("gọi 0912345678 5 lần", "gọi không chín một hai ba bốn năm sáu bảy tám năm lần"),
        # abbreviations
        ("sđt: 0986 123 456", "số điện thoại không chín tám sáu một hai ba bốn năm sáu"),
        ("Trường TH&THCS Lê Lợi", "trường tiểu học và trung học cơ sở lê lợi"),
        ("BCH QS xã, CAX", "ban chỉ huy quân sự xã công an xã"),
        ("BĐII", "báo động hai"),
        ("tp. Vinh, Tp.HCM", "thành phố vinh thành phố hồ chí minh"),
        ("thi THPT QG", "thi trung học phổ thông quốc gia"),
        # emergency numbers listed after a phone keyword, not counts
        ("gọi 113, 114 hoặc 115", "gọi một một ba một một bốn hoặc một một năm"),
        ("gọi 113 (công an), 114 (cứu hỏa)", "gọi một một ba công an một một bốn cứu hỏa"),
        ("gọi điện cho 12 hộ, 114 hộ", "gọi điện cho mười hai hộ một trăm mười bốn hộ"),
        ("gọi 115. Xã có 114 hộ", "gọi một một năm xã có một trăm mười bốn hộ"),
        # a name and its number with a stray space after the hyphen
        ("dịch Covid- 19", "dịch cô vít mười chín"),
        # a Roman numeral ending a school's name
        ("Trường THPT Nam Đàn I", "trường trung học phổ thông nam đàn một"),
        ("Quý IV", "quý bốn"),
    ],
)
def test_unseen_reading(text: str, spoken: str) -> None:
    assert said(text) == spoken


def test_pictographs_are_pauses_not_words() -> None:
    # "📢 THÔNG BÁO 📢 Ngày mai": the heading and the sentence are two parts, said apart
    assert normalize("📢 THÔNG BÁO 📢 Ngày mai họp 🌸") == "thông báo, Ngày mai họp"
    assert normalize("Bà con 👍🏻 ủng hộ") == "Bà con, ủng hộ"


def test_circled_digit_does_not_crash() -> None:
    # "❶" is a digit to str.isdigit but no number int() can read
    assert normalize("❶3") == "❶ ba"
