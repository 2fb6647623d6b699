"""A schedule said in plain Vietnamese: RRULE + start/end + time zone → one sentence.

"Thứ Hai, Tư, Sáu lúc 17:15, từ 02/12 đến 31/12"; "Hằng ngày lúc 06:30 và 17:15";
"Một lần lúc 07:00 ngày 05/12/2026". Pure: the rule is read here (RFC 5545 subset the
server writes and a person could type), nothing is looked up. A rule part this does not
understand gives a general sentence, never the raw rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from pa_server.schemas.common import whole_number

#: Monday first, as Python and RFC 5545 BYDAY codes number them.
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
_ORDINALS_VI = {
    1: "đầu tiên",
    2: "thứ hai",
    3: "thứ ba",
    4: "thứ tư",
    5: "thứ năm",
    -1: "cuối cùng",
}
_UNITS_VI = {
    "MINUTELY": "phút",
    "HOURLY": "giờ",
    "DAILY": "ngày",
    "WEEKLY": "tuần",
    "MONTHLY": "tháng",
    "YEARLY": "năm",
}
#: Rule parts this module says in words; any other makes the sentence general.
_KNOWN = {
    "FREQ",
    "INTERVAL",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYMONTHDAY",
    "BYMONTH",
    "COUNT",
    "UNTIL",
    "WKST",
}


def join_vi(items: Sequence[str], last: str = " và ") -> str:
    """ "a", "a và b", "a, b và c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + last + items[-1]


def weekdays_vi(days: Iterable[int]) -> str:
    """ "Thứ Hai, Tư, Sáu"; "Thứ Hai đến Thứ Sáu"; "Thứ Bảy, Chủ Nhật"; "" for none."""
    chosen = sorted(set(days))
    if not chosen:
        return ""
    if len(chosen) >= 3 and chosen == list(range(chosen[0], chosen[-1] + 1)):
        return f"{WEEKDAYS_VI[chosen[0]]} đến {WEEKDAYS_VI[chosen[-1]]}"
    words: list[str] = []
    said_thu = False
    for d in chosen:
        if d == 6:
            words.append(WEEKDAYS_VI[6])
        elif said_thu:
            words.append(WEEKDAYS_VI[d].removeprefix("Thứ "))
        else:
            words.append(WEEKDAYS_VI[d])
            said_thu = True
    return ", ".join(words)


def times_vi(times: Iterable[time]) -> str:
    """ "06:30 và 17:15"."""
    return join_vi([f"{t:%H:%M}" for t in sorted(set(times))])


def _date_vi(day: date, today: date | None) -> str:
    # The year is left out when it is this year: "02/12" reads faster than "02/12/2026".
    return f"{day:%d/%m}" if today is not None and day.year == today.year else f"{day:%d/%m/%Y}"


def _parse(rule: str) -> dict[str, str] | None:
    parts: dict[str, str] = {}
    for piece in rule.removeprefix("RRULE:").split(";"):
        key, sep, value = piece.partition("=")
        if not sep or not key or not value:
            return None
        parts[key.strip().upper()] = value.strip().upper()
    return parts if "FREQ" in parts else None


def _ints(value: str | None, low: int, high: int) -> list[int] | None:
    if value is None:
        return []
    try:
        out = [int(v) for v in value.split(",")]
    except ValueError:
        return None
    return out if all(low <= v <= high for v in out) else None


def _byday(value: str) -> list[tuple[int, int]] | None:
    """BYDAY=MO,2TU,-1FR → [(0, 0), (1, 2), (4, -1)] (weekday, ordinal; 0 = every)."""
    out: list[tuple[int, int]] = []
    for piece in value.split(","):
        code, prefix = piece[-2:], piece[:-2]
        if code not in WEEKDAY_CODES:
            return None
        try:
            nth = int(prefix) if prefix else 0
        except ValueError:
            return None
        out.append((WEEKDAY_CODES.index(code), nth))
    return out


def _until(value: str, tz: ZoneInfo) -> date | None:
    try:
        if value.endswith("Z"):
            at = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=ZoneInfo("UTC"))
            return at.astimezone(tz).date()
        if "T" in value:
            return datetime.strptime(value, "%Y%m%dT%H%M%S").date()
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def _every(unit: str, interval: int) -> str:
    return f"{interval} {unit} một lần"


def _how_often(parts: dict[str, str], start: datetime) -> str | None:
    """The "when in the calendar" half ("Hằng ngày", "Thứ Hai, Tư"), None if unsayable."""
    freq = parts["FREQ"]
    if freq not in _UNITS_VI:
        return None
    try:
        interval = int(parts.get("INTERVAL", "1"))
    except ValueError:
        return None
    if interval < 1:
        return None
    days = _byday(parts["BYDAY"]) if "BYDAY" in parts else []
    monthdays = _ints(parts.get("BYMONTHDAY"), -31, 31)
    months = _ints(parts.get("BYMONTH"), 1, 12)
    if days is None or monthdays is None or months is None or 0 in monthdays:
        return None
    plain_days = sorted({d for d, nth in days if nth == 0})
    nth_days = [(d, nth) for d, nth in days if nth != 0]
    if nth_days and freq not in ("MONTHLY", "YEARLY"):
        return None

    if freq in ("MINUTELY", "HOURLY"):
        base = f"Mỗi {_UNITS_VI[freq]}" if interval == 1 else _every(_UNITS_VI[freq], interval)
        if plain_days:
            base += f", vào {weekdays_vi(plain_days)}"
        return base
    if freq == "DAILY" or (freq == "WEEKLY" and interval == 1 and len(plain_days) == 7):
        if freq == "DAILY" and plain_days and len(plain_days) < 7:
            return weekdays_vi(plain_days) if interval == 1 else None
        return "Hằng ngày" if interval == 1 else _every("ngày", interval)
    if freq == "WEEKLY":
        when = weekdays_vi(plain_days or [start.weekday()])
        if interval == 1:
            return when if plain_days and len(plain_days) > 1 else f"{when} hằng tuần"
        return f"{_every('tuần', interval)}, vào {when}"
    if freq == "MONTHLY":
        every = "hằng tháng" if interval == 1 else f", {interval} tháng một lần"
        if nth_days:
            if len(nth_days) != 1 or nth_days[0][1] not in _ORDINALS_VI or plain_days:
                return None
            d, nth = nth_days[0]
            return f"{WEEKDAYS_VI[d]} {_ORDINALS_VI[nth]} {every}".replace(" ,", ",")
        if plain_days:
            return f"{weekdays_vi(plain_days)} {every}".replace(" ,", ",")
        days_of_month = monthdays or [start.day]
        said = [("ngày cuối tháng" if m == -1 else f"ngày {m}") for m in sorted(days_of_month)]
        if any(m < -1 for m in days_of_month):
            return None
        return f"{join_vi(said).capitalize()} {every}".replace(" ,", ",")
    # YEARLY
    if nth_days or plain_days or interval != 1:
        return None if nth_days or plain_days else _every("năm", interval)
    month_list = months or [start.month]
    day_list = monthdays or [start.day]
    if any(m < 1 for m in day_list):
        return None
    said = [f"{d:02d}/{m:02d}" for m in month_list for d in day_list]
    return f"Hằng năm vào ngày {join_vi(said)}"


def _times(parts: dict[str, str], local_start: datetime) -> list[time] | None:
    hours = _ints(parts.get("BYHOUR"), 0, 23)
    minutes = _ints(parts.get("BYMINUTE"), 0, 59)
    if hours is None or minutes is None:
        return None
    if parts["FREQ"] in ("MINUTELY", "HOURLY") and not hours:
        return []  # said by the frequency alone
    hours = hours or [local_start.hour]
    minutes = minutes or [local_start.minute]
    return [time(h, m) for h in hours for m in minutes]


def describe_schedule(
    rrule: str | None,
    start: datetime,
    end: datetime | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
    *,
    exdates: Sequence[datetime] = (),
    today: date | None = None,
    times: Sequence[time] = (),
) -> str:
    """The schedule in one Vietnamese sentence, in its own time zone.

    `start`/`end`/`exdates` are aware instants (naive ones are taken as local time);
    `today` (local) lets this year's dates drop their year; `times` are the schedule's times
    of day (when given, the rule says only which days).
    """
    tz = ZoneInfo(timezone)

    def local(at: datetime) -> datetime:
        return at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)

    first = local(start)
    if not rrule:
        if times:
            return f"Ngày {first:%d/%m/%Y} lúc {times_vi(times)}"
        return f"Một lần lúc {first:%H:%M} ngày {first:%d/%m/%Y}"
    parts = _parse(rrule)
    how = None
    said: list[time] | None = None
    if parts is not None and set(parts) <= _KNOWN:
        how = _how_often(parts, first)
        said = list(times) if times else _times(parts, first)
    if parts is None or how is None or said is None:
        sentence = "Lặp lại theo quy tắc riêng"
        parts = parts or {}
    else:
        sentence = how + (f" lúc {times_vi(said)}" if said else "")
        if parts["FREQ"] == "MINUTELY" and "BYHOUR" in parts and said:
            sentence = how + f", trong các giờ {times_vi(said)}"

    last: date | None = local(end).date() if end is not None else None
    if "UNTIL" in parts:
        until = _until(parts["UNTIL"], tz)
        if until is not None:
            last = until if last is None else min(last, until)
    range_text = f"từ {_date_vi(first.date(), today)}"
    if last is not None:
        range_text += f" đến {_date_vi(last, today)}"
    elif whole_number(parts.get("COUNT", "")) is None:
        range_text += " trở đi"
    sentence += f", {range_text}"
    count = whole_number(parts.get("COUNT", ""))
    if count is not None:
        sentence += f", {count} lần"
    skipped = sorted({local(x).date() for x in exdates})
    if skipped:
        sentence += f", trừ ngày {join_vi([_date_vi(d, today) for d in skipped])}"
    return sentence
