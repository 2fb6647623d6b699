"""normalize(): real announcement language → the words a speaker says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from announcements.abbreviations import load_abbreviations, parse_abbreviations
from announcements.errors import (
    MAX_TEXT_CHARS,
    AbbreviationFileError,
    EmptyText,
    NothingSpeakable,
    TextTooLong,
)
from announcements.normalize import check_text, normalize, split_sentences


def said(text: str) -> str:
    """Spoken form, lower-case, punctuation folded to spaces (as a listener hears it)."""
    return " ".join(re.sub(r"[^\w]+", " ", normalize(text).lower()).split())


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # dates
        ("Ngày 29/7, Bộ Y tế", "ngày hai mươi chín tháng bảy bộ y tế"),
        ("từ 29/7 - 5/8", "từ ngày hai mươi chín tháng bảy đến ngày năm tháng tám"),
        ("ngày 1-10-2020", "ngày một tháng mười năm hai nghìn không trăm hai mươi"),
        ("hạn 2020-08-30", "hạn ngày ba mươi tháng tám năm hai nghìn không trăm hai mươi"),
        ("ngày 04.9.2020", "ngày bốn tháng chín năm hai nghìn không trăm hai mươi"),
        ("tháng 4/2021", "tháng tư năm hai nghìn không trăm hai mươi mốt"),
        ("trong tháng 12/2020", "trong tháng mười hai năm hai nghìn không trăm hai mươi"),
        ("ngày 5 tháng 4 năm 2020", "ngày năm tháng tư năm hai nghìn không trăm hai mươi"),
        ("mùng 2/9", "mùng hai tháng chín"),
        ("ngày 31/2", "ngày ba mươi mốt hai"),  # not a date: read as numbers
        # times
        ("Lúc 6h30 sáng", "lúc sáu giờ ba mươi phút sáng"),
        ("từ 17h00 đến 18h00", "từ mười bảy giờ đến mười tám giờ"),
        ("từ 6h30-7h15", "từ sáu giờ ba mươi phút đến bảy giờ mười lăm phút"),
        ("lúc 05:30:15", "lúc năm giờ ba mươi phút mười lăm giây"),
        ("trong 24h", "trong hai mươi tư giờ"),
        ("lúc 7h45'", "lúc bảy giờ bốn mươi lăm phút"),
        ("6 giờ 30", "sáu giờ ba mươi"),
        (
            "Từ 8 giờ 00 ngày 05/08/2020",
            "từ tám giờ ngày năm tháng tám năm hai nghìn không trăm hai mươi",
        ),
        # ordinals and Roman numerals in context
        ("Thứ 7, Chủ nhật", "thứ bảy chủ nhật"),
        ("thứ 1", "thứ nhất"),
        ("lần thứ 4", "lần thứ tư"),
        ("Quý III", "quý ba"),
        ("Quý III/2020", "quý ba năm hai nghìn không trăm hai mươi"),
        ("quý 4/2021", "quý bốn năm hai nghìn không trăm hai mươi mốt"),
        ("Đại hội XIII của Đảng", "đại hội mười ba của đảng"),
        ("Đại hội đại biểu lần thứ XXIII", "đại hội đại biểu lần thứ hai mươi ba"),
        ("thế kỷ XXI", "thế kỷ hai mươi mốt"),
        ("Hội nghị Trung ương 8 khóa XII", "hội nghị trung ương tám khóa mười hai"),
        ("Tôi là I", "tôi là i"),  # a lone I is not a numeral outside its context
        # numbers
        ("có 21 xã và 24 thôn", "có hai mươi mốt xã và hai mươi tư thôn"),
        ("1.001 người", "một nghìn không trăm linh một người"),
        ("hỗ trợ 1.500.000 đồng", "hỗ trợ một triệu năm trăm nghìn đồng"),
        ("khoảng 3,5 tỷ đồng", "khoảng ba phẩy năm tỷ đồng"),
        ("từ 5-7 ngày", "từ năm đến bảy ngày"),
        (
            "năm học 2019-2020",
            "năm học hai nghìn không trăm mười chín đến hai nghìn không trăm hai mươi",
        ),
        ("mục 1.2", "mục một chấm hai"),
        ("đạt 100%", "đạt một trăm phần trăm"),
        ("từ 5%-7%", "từ năm phần trăm đến bảy phần trăm"),
        ("trẻ < 5 tuổi", "trẻ dưới năm tuổi"),
        ("½ số hộ", "một phần hai số hộ"),
        # units
        ("sốt trên 37,5°C", "sốt trên ba mươi bảy phẩy năm độ xê"),
        ("38 độ C", "ba mươi tám độ xê"),
        ("cách 5 km", "cách năm ki lô mét"),
        ("rộng 10m", "rộng mười mét"),
        ("120 m2", "một trăm hai mươi mét vuông"),
        ("2 kg gạo, 500g thịt", "hai ki lô gam gạo năm trăm gam thịt"),
        ("3 ha lúa", "ba héc ta lúa"),
        ("50.000đ", "năm mươi nghìn đồng"),
        ("100.000 VNĐ", "một trăm nghìn đồng"),
        ("2 l nước", "hai lít nước"),
        ("40 km/h", "bốn mươi ki lô mét trên giờ"),
        # phones
        ("gọi số 0912345678", "gọi số không chín một hai ba bốn năm sáu bảy tám"),
        ("hotline: 0912.345.678", "hót lai không chín một hai ba bốn năm sáu bảy tám"),
        ("ĐT: (0211) 3861 234", "điện thoại không hai một một ba tám sáu một hai ba bốn"),
        ("đường dây nóng 1900 9095", "đường dây nóng một chín không không chín không chín năm"),
        ("gọi 1800.1234", "gọi một tám không không một hai ba bốn"),
        ("gọi ngay 115", "gọi ngay một một năm"),
        ("Tổng đài 1022", "tổng đài một không hai hai"),
        ("+84 912 345 678", "cộng tám bốn chín một hai ba bốn năm sáu bảy tám"),
        ("số 115 đường Lê Lợi", "số một trăm mười lăm đường lê lợi"),
        # letters and digits together
        ("F0 và F1", "ép không và ép một"),
        ("cúm A H5N1", "cúm a hát năm en một"),
        ("Covid-19", "cô vít mười chín"),
        ("COVID-19", "cô vít mười chín"),
        ("virus SARS-CoV-2", "vi rút sát cô vi hai"),
        ("thông điệp 5K", "thông điệp năm ca"),
        ("mạng 4G", "mạng bốn giê"),
        # abbreviations
        ("UBND xã, HĐND huyện", "ủy ban nhân dân xã hội đồng nhân dân huyện"),
        ("Ủy ban MTTQ", "ủy ban mặt trận tổ quốc"),
        ("UBMTTQ xã", "ủy ban mặt trận tổ quốc xã"),
        ("TP. Vĩnh Yên", "thành phố vĩnh yên"),
        ("TP.HCM", "thành phố hồ chí minh"),
        ("TT. Thổ Tang", "thị trấn thổ tang"),
        ("TM. ỦY BAN NHÂN DÂN", "thay mặt ủy ban nhân dân"),
        ("KT. CHỦ TỊCH", "ký thay chủ tịch"),
        ("V/v sử dụng", "về việc sử dụng"),
        ("HĐND huyện (B/c)", "hội đồng nhân dân huyện báo cáo"),
        ("Trung tâm Văn hóa - TT-TT huyện", "trung tâm văn hóa thông tin thể thao huyện"),
        ("TT Huyện ủy", "thường trực huyện ủy"),
        ("CSGT, CAND, PCCC", "cảnh sát giao thông công an nhân dân phòng cháy chữa cháy"),
        ("TTYT huyện, BHXH, BHYT", "trung tâm y tế huyện bảo hiểm xã hội bảo hiểm y tế"),
        ("trường THCS và THPT", "trường trung học cơ sở và trung học phổ thông"),
        ("Phòng GD&ĐT", "phòng giáo dục và đào tạo"),
        ("Số: 123/UBND-VP", "số một trăm hai mươi ba ủy ban nhân dân văn phòng"),
        ("ứng dụng NCOVI", "ứng dụng en cô vi"),
        ("hợp tác xã HTX", "hợp tác xã hợp tác xã"),
        ("mã VTX", "mã vê tê ích"),  # unknown acronym: spelled
        ("PHÓ CHỦ TỊCH", "phó chủ tịch"),  # capitals of ordinary words are just words
        # web and e-mail
        ("tại https://tokhaiyte.vn", "tại tờ khai y tế chấm vê en"),
        ("tải từ <https://ncovi.vn>", "tải từ en cô vi chấm vê en"),
        (
            "xem www.moh.gov.vn/tin-tuc",
            "xem em o hát chấm gờ o vê chấm vê en gạch chéo tin gạch ngang tuc",
        ),
        ("truy cập bluezone.gov.vn.", "truy cập blu dôn chấm gờ o vê chấm vê en"),
        (
            "gửi ubnd@vinhtuong.gov.vn",
            "gửi u bê en dê a còng vinh tuong chấm gờ o vê chấm vê en",
        ),
        # punctuation
        ("Độc lập - Tự do - Hạnh phúc", "độc lập tự do hạnh phúc"),
        ("“Bluezone” – ứng dụng…", "blu dôn ứng dụng"),
        ("**Lưu ý:** cài đặt", "lưu ý cài đặt"),
        ("cài đặt & sử dụng", "cài đặt và sử dụng"),
        ("xã/thị trấn", "xã thị trấn"),
    ],
)
def test_spoken_form(text: str, spoken: str) -> None:
    assert said(text) == spoken


def test_no_doubled_ngay_and_no_https_or_www() -> None:
    out = normalize("Ngày 30/8/2020 truy cập https://www.tokhaiyte.vn")
    assert "ngày ngày" not in out.lower()
    assert not re.search(r"http|www|://", out)


def test_output_keeps_sentence_punctuation_for_pauses() -> None:
    out = normalize("Kính thưa bà con! Từ ngày 1/9, đề nghị: cài Bluezone.")
    assert out == "Kính thưa bà con! Từ ngày một tháng chín, đề nghị: cài blu dôn."


def test_lines_become_sentences() -> None:
    assert normalize("Kính gửi:\nUBND các xã\nBCĐ huyện") == (
        "Kính gửi: ủy ban nhân dân các xã. ban chỉ đạo huyện"
    )


def test_directive_has_no_digits_or_unspoken_abbreviations() -> None:
    repo = Path(__file__).resolve().parents[2]
    files = sorted((repo.parent / "shared" / "seed").glob("*.md")) or sorted(
        (repo.parent.parent / "shared" / "seed").glob("*.md")
    )
    text = (
        files[0].read_text(encoding="utf-8")
        if files
        else (
            "Ngày 29/7, Bộ Y tế… tại <https://tokhaiyte.vn>. BCĐ phòng, chống dịch Covid-19 huyện."
        )
    )
    out = normalize(text)
    assert not re.search(r"\d|http|www|UBND|HĐND|BCĐ|MTTQ|\*", out)


# --- extension of the abbreviation table ------------------------------------------------------


def test_operator_table_adds_and_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "extra.tsv"
    extra.write_text(
        "# ours\nHTXNN\thợp tác xã nông nghiệp\nCA\tcông an\nbz\tblu dôn\ti\n", "utf-8"
    )
    table = load_abbreviations(extra)
    assert said_with(table, "HTXNN Tân Tiến, BZ") == "hợp tác xã nông nghiệp tân tiến blu dôn"
    assert said_with(table, "UBND") == "ủy ban nhân dân"  # built-in entries kept


def said_with(table: object, text: str) -> str:
    from announcements.abbreviations import Abbreviations

    assert isinstance(table, Abbreviations)
    return " ".join(re.sub(r"[^\w]+", " ", normalize(text, abbreviations=table).lower()).split())


@pytest.mark.parametrize(
    "line", ["UBND", "X\t", "X\tnói\tz", "X\tcó 2 số"], ids=["one-col", "empty", "flag", "digit"]
)
def test_bad_table_line_is_named(line: str) -> None:
    with pytest.raises(AbbreviationFileError, match=r"extra:1:"):
        parse_abbreviations([line], "extra")


def test_unreadable_table(tmp_path: Path) -> None:
    with pytest.raises(AbbreviationFileError, match="cannot read"):
        load_abbreviations(tmp_path / "missing.tsv")


# --- check_text -------------------------------------------------------------------------------


def test_check_text_returns_spoken_form() -> None:
    assert check_text("có 21 xã") == "có hai mươi mốt xã"


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(text: str) -> None:
    with pytest.raises(EmptyText):
        check_text(text)


def test_text_too_long_names_the_limit() -> None:
    with pytest.raises(TextTooLong, match="5000"):
        check_text("a" * (MAX_TEXT_CHARS + 1))
    assert check_text("a " * (MAX_TEXT_CHARS // 2))


@pytest.mark.parametrize("text", ["!!!", "... --- ...", "😀 ★ →", "*", "()[]"])
def test_nothing_speakable(text: str) -> None:
    with pytest.raises(NothingSpeakable):
        check_text(text)


# --- sentence splitting -----------------------------------------------------------------------


def test_split_at_sentence_ends() -> None:
    assert split_sentences("Kính thưa bà con! Hãy cài Bluezone. Xin cảm ơn?") == [
        "Kính thưa bà con!",
        "Hãy cài Bluezone.",
        "Xin cảm ơn?",
    ]


def test_long_sentence_is_cut_at_commas_then_words() -> None:
    clause = "cán bộ công chức viên chức và người lao động trên địa bàn xã"
    text = ", ".join([clause] * 5) + "."
    pieces = split_sentences(text)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == text
    assert all(p.endswith((",", ".")) for p in pieces)  # each cut falls after a comma


def test_words_longer_than_the_limit_are_still_cut() -> None:
    pieces = split_sentences("a" * 250, max_chars=100)
    assert [len(p) for p in pieces] == [100, 100, 50]


def test_script_length_text_splits_into_short_pieces() -> None:
    text = normalize(
        "Thực hiện chỉ đạo của UBND huyện và BCĐ phòng, chống dịch Covid-19 huyện, UBND xã đề nghị "
        "mỗi người dân có điện thoại thông minh hãy cài đặt và sử dụng ứng dụng Bluezone để bảo vệ "
        "bản thân gia đình và cộng đồng trước nguy cơ lây nhiễm dịch bệnh trong tình hình mới"
    )
    pieces = split_sentences(text)
    assert len(pieces) > 2 and all(0 < len(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split()


# --- properties -------------------------------------------------------------------------------

_WORDS = [
    "xã",
    "UBND",
    "ngày",
    "tháng",
    "thứ",
    "Quý",
    "gọi",
    "số",
    "lúc",
    "km",
    "Covid",
    "V/v",
    "độ",
    "C",
]
_PIECES = st.one_of(
    st.sampled_from(_WORDS),
    st.from_regex(r"[0-9]{1,25}", fullmatch=True),
    st.sampled_from(list(".,;:!?/-–—%()[]\"'°&+@#*<>≥½h: \n")),
    st.text(max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_normalize_never_raises_and_leaves_no_ascii_digit(text: str) -> None:
    out = normalize(text)
    assert not re.search(r"[0-9]", out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_split_pieces_are_short_and_keep_every_word(text: str) -> None:
    pieces = split_sentences(text)
    assert all(0 < len(p) <= 100 for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


# --- issue 12: reading by context -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # fractions, idioms and dates decided by the words around them
        ("3/4 số hộ", "ba phần tư số hộ"),
        ("1/2 số thôn", "một phần hai số thôn"),
        ("trực 24/7", "trực hai mươi tư trên bảy"),
        ("ngày 24/7", "ngày hai mươi tư tháng bảy"),
        ("chiếm 1/3", "chiếm một phần ba"),
        ("từ 1/10", "từ ngày một tháng mười"),
        ("8/8 thanh niên đạt", "tám trên tám thanh niên đạt"),
        ("Đường 19/5", "đường mười chín tháng năm"),
        ("huyết áp 140/90 mmHg", "huyết áp một trăm bốn mươi trên chín mươi mi li mét thủy ngân"),
        # counts are numbers, phones and codes are digits
        ("gọi 100 người", "gọi một trăm người"),
        ("gọi 115", "gọi một một năm"),
        ("mã số thuế: 8012345678", "mã số thuế tám không một hai ba bốn năm sáu bảy tám"),
        ("biển số 88A-123.45", "biển số tám tám a một hai ba bốn năm"),
        # unit and currency slashes
        ("80.000 đồng/kg", "tám mươi nghìn đồng một ki lô gam"),
        ("50.000đ/hộ", "năm mươi nghìn đồng mỗi hộ"),
        ("1,2 tấn/ha", "một phẩy hai tấn trên héc ta"),
        ("20.000 đồng/hộ/tháng", "hai mươi nghìn đồng mỗi hộ một tháng"),
        ("km 12+500", "ki lô mét mười hai cộng năm trăm"),
        ("Km 12+500", "ki lô mét mười hai cộng năm trăm"),
        # ranges
        ("14h-16h30", "mười bốn giờ đến mười sáu giờ ba mươi phút"),
        ("5-11 tuổi", "năm đến mười một tuổi"),
        ("T2-T6", "thứ hai đến thứ sáu"),
        ("T7, CN", "thứ bảy chủ nhật"),
        ("15-16/12", "ngày mười lăm đến ngày mười sáu tháng mười hai"),
        ("ngày 15-16/12", "ngày mười lăm đến ngày mười sáu tháng mười hai"),
        ("thứ 2-6", "thứ hai đến thứ sáu"),
        ("NPK 16-16-8", "en pê ca mười sáu mười sáu tám"),
        # signs, ratios, scores
        ("-5 độ", "âm năm độ"),
        ("từ -2 đến 3°C", "từ âm hai đến ba độ xê"),
        ("từ 5 -7 ngày", "từ năm đến bảy ngày"),
        ("1:1000", "một trên một nghìn"),
        ("tỷ lệ 1:500", "tỷ lệ một trên năm trăm"),
        ("thắng 2-1", "thắng hai một"),
        # place and road prefixes, only where they are prefixes
        ("P.Tân Tiến", "phường tân tiến"),
        ("H.Vĩnh Tường", "huyện vĩnh tường"),
        ("ĐT.305", "đường tỉnh ba trăm linh năm"),
        ("QL.2C", "quốc lộ hai xê"),
        ("QL2", "quốc lộ hai"),
        ("TL.301", "tỉnh lộ ba trăm linh một"),
        ("Q.1, P.3", "quận một phường ba"),
        ("ĐT: 0912345678", "điện thoại không chín một hai ba bốn năm sáu bảy tám"),
        ("TL. CHỦ TỊCH", "thừa lệnh chủ tịch"),
        ("ông Nguyễn Văn H. trú tại", "ông nguyễn văn hát trú tại"),
        # documents
        (
            "Nghị quyết số 05/2024/NQ-HĐND",
            "nghị quyết số năm năm hai nghìn không trăm hai mươi tư nghị quyết hội đồng nhân dân",
        ),
        # e-mail local parts are spelled or read as syllables, never expanded
        ("gửi ubnd@vinhtuong.gov.vn", "gửi u bê en dê a còng vinh tuong chấm gờ o vê chấm vê en"),
        # pronunciation lexicon
        ("Bluezone và Bluetooth", "blu dôn và blu tút"),
        ("Zalo, Facebook", "da lô phây búc"),
        ("vắc xin Pfizer, AstraZeneca, Moderna", "vắc xin phai dơ át tra dê nê ca mô đéc na"),
        ("Vero Cell, Sputnik V", "vê rô xen xpút ních vê"),
        ("Wi-Fi, email, website, Google", "oai phai i meo oép sai gu gồ"),
        ("iPhone, Android", "ai phôn an đờ roi"),
        ("mã QR", "mã kiu a"),
        ("COVID-19", "cô vít mười chín"),
    ],
)
def test_issue_12_examples(text: str, spoken: str) -> None:
    assert said(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Bộ Y tế khuyến cáo", "Bộ Y tế khuyến cáo"),
        (
            "Ngày 29/7, Bộ Y tế đưa ra khuyến cáo",
            "Ngày hai mươi chín tháng bảy, Bộ Y tế đưa ra khuyến cáo",
        ),
        ("H.Vĩnh Tường, TP.HCM", "huyện Vĩnh Tường, thành phố Hồ Chí Minh"),
        ("CHXHCN VN", "cộng hòa xã hội chủ nghĩa Việt Nam"),
    ],
)
def test_proper_names_keep_their_capitals(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


def test_prefix_dots_do_not_split_sentences() -> None:
    spoken = normalize("UBND P.Tân Tiến, H.Vĩnh Tường thông báo. Mời bà con dự họp.")
    assert split_sentences(spoken) == [
        "ủy ban nhân dân phường Tân Tiến, huyện Vĩnh Tường thông báo.",
        "Mời bà con dự họp.",
    ]


def test_reading_rules_file_errors_are_named(tmp_path: Path) -> None:
    from announcements.errors import ReadingRulesError
    from announcements.reading import DEFAULT_FILE, load_rules

    assert load_rules(DEFAULT_FILE).weekdays["CN"] == "chủ nhật"
    bad = tmp_path / "reading.toml"
    bad.write_text(DEFAULT_FILE.read_text("utf-8").replace('"24/7" = "hai', '"24/7" = "2 hai'))
    with pytest.raises(ReadingRulesError, match="digits"):
        load_rules(bad)
    bad.write_text("[quantity]\nnouns = 3\n", "utf-8")
    with pytest.raises(ReadingRulesError):
        load_rules(bad)
    with pytest.raises(ReadingRulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
