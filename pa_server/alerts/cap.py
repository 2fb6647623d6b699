"""Read a CAP 1.2 message safely and check it: hostile XML refused, the typed bindings of
`cap-tools` (xsdata, strict), then the rules of the standard the bindings do not enforce.

Hostile input: the size is capped, and `defusedxml` refuses any DTD, entity declaration or
external reference before the bindings see a byte (so no entity expansion, no fetch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
from cap_tools.models import Alert, Info
from defusedxml import DefusedXmlException
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.models.datatype import XmlDateTime

from pa_server.alerts import CapInvalid

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
#: Default ceiling of one message (a CAP alert with a few polygons is a few kilobytes).
MAX_BYTES = 256 * 1024

#: CAP 1.2 §3.2.1: identifier and sender contain no spaces, commas nor restricted characters.
_NO_SPACE = re.compile(r"^[^\s,<&]+$")
#: A polygon/circle coordinate pair "lat,lon".
_PAIR = re.compile(r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$")

_PARSER = XmlParser(
    config=ParserConfig(
        fail_on_unknown_properties=True,
        fail_on_unknown_attributes=True,
        fail_on_converter_warnings=True,
    )
)


@dataclass(frozen=True)
class AreaSpec:
    """One `area`: its description, geocodes (valueName, value), polygons and circles."""

    desc: str
    geocodes: tuple[tuple[str, str], ...]
    #: Each polygon as (lat, lon) points, first == last.
    polygons: tuple[tuple[tuple[float, float], ...], ...]
    #: Each circle as (lat, lon, radius_km).
    circles: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True)
class InfoSpec:
    """One `info` block, as far as the loudspeakers need it."""

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    areas: tuple[AreaSpec, ...]

    @property
    def vietnamese(self) -> bool:
        """True when written in Vietnamese (`vi`, `vi-VN`)."""
        return self.language.lower().split("-")[0] == "vi"


@dataclass(frozen=True)
class CapMessage:
    """A valid CAP 1.2 message."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    #: Each earlier message it refers to, as its `key` ("sender,identifier,sent-in-UTC").
    references: tuple[str, ...]
    infos: tuple[InfoSpec, ...]

    @property
    def key(self) -> str:
        """How other messages name this one (`references`), normalised to UTC."""
        return message_key(self.sender, self.identifier, self.sent)

    def info_vi(self) -> InfoSpec | None:
        """The first Vietnamese `info`, if any."""
        return next((i for i in self.infos if i.vietnamese), None)

    def first_info(self) -> InfoSpec | None:
        """The first `info` (what the alert is about, whatever its language)."""
        return self.infos[0] if self.infos else None


def message_key(sender: str, identifier: str, sent: datetime) -> str:
    """The reference key of a message: `sender,identifier,sent` with `sent` in UTC."""
    return f"{sender},{identifier},{sent.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _instant(value: XmlDateTime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.offset is None:
        raise CapInvalid("cap_no_timezone", f"Thời điểm “{name}” thiếu múi giờ (CAP 1.2 bắt buộc).")
    return value.to_datetime().astimezone(UTC)


def _pairs(text: str, what: str) -> list[tuple[float, float]]:
    points = []
    for pair in text.split():
        if not _PAIR.match(pair):
            raise CapInvalid("cap_bad_area", f"Tọa độ “{pair}” trong {what} không hợp lệ.")
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise CapInvalid("cap_bad_area", f"Tọa độ “{pair}” trong {what} nằm ngoài phạm vi.")
        points.append((lat, lon))
    return points


def _area(area: object) -> AreaSpec:
    polygons = []
    for text in getattr(area, "polygons", []):
        points = _pairs(text, "vùng đa giác")
        if len(points) < 4 or points[0] != points[-1]:
            raise CapInvalid(
                "cap_bad_area", "Vùng đa giác cần ít nhất 4 điểm, điểm cuối trùng điểm đầu."
            )
        polygons.append(tuple(points))
    circles = []
    for text in getattr(area, "circles", []):
        center, _, radius = text.strip().partition(" ")
        (lat, lon), *_ = _pairs(center, "vùng tròn") or [(0.0, 0.0)]
        try:
            km = float(radius)
        except ValueError:
            raise CapInvalid(
                "cap_bad_area", f"Bán kính vùng tròn “{radius}” không hợp lệ."
            ) from None
        if km < 0:
            raise CapInvalid("cap_bad_area", "Bán kính vùng tròn không được âm.")
        circles.append((lat, lon, km))
    geocodes = tuple(
        (g.value_name.value.strip(), g.value.value.strip()) for g in getattr(area, "geocodes", [])
    )
    return AreaSpec(
        desc=str(getattr(area, "area_desc", "")).strip(),
        geocodes=geocodes,
        polygons=tuple(polygons),
        circles=tuple(circles),
    )


def _info(info: Info) -> InfoSpec:
    if not info.categories:
        raise CapInvalid("cap_missing_field", "Khối “info” thiếu “category”.")
    return InfoSpec(
        language=(info.language or "en-US").strip(),
        event=info.event.strip(),
        urgency=info.urgency.value,
        severity=info.severity.value,
        certainty=info.certainty.value,
        headline=(info.headline or "").strip(),
        description=(info.description or "").strip(),
        instruction=(info.instruction or "").strip(),
        sender_name=(info.sender_name or "").strip(),
        effective=_instant(info.effective, "effective"),
        onset=_instant(info.onset, "onset"),
        expires=_instant(info.expires, "expires"),
        areas=tuple(_area(a) for a in info.areas),
    )


def _reference(text: str) -> str:
    parts = text.split(",")
    if len(parts) != 3 or not all(parts):
        raise CapInvalid(
            "cap_bad_reference", f"Tham chiếu “{text}” không đúng dạng người gửi,mã,thời điểm."
        )
    try:
        sent = _instant(XmlDateTime.from_string(parts[2]), "references")
    except ValueError:
        raise CapInvalid("cap_bad_reference", f"Tham chiếu “{text}” có thời điểm sai.") from None
    assert sent is not None
    return message_key(parts[0], parts[1], sent)


_BAD_VALUE = re.compile(r"for `(?:\w+\.)?(\w+)`\s+`([^`]*)` is not a valid")
_UNKNOWN = re.compile(r"Unknown property \S*?\}(\w+)$")


def schema_reason(message: str) -> str:
    """The bindings' refusal said in Vietnamese (the raw message stays in the kept XML's log)."""
    text = " ".join(message.split())
    if m := _BAD_VALUE.search(text):
        field, value = m.groups()
        return f"Sai cấu trúc CAP 1.2: giá trị “{value[:80]}” của “{_camel(field)}” không hợp lệ."
    if m := _UNKNOWN.search(text):
        return f"Sai cấu trúc CAP 1.2: phần tử “{m.group(1)}” không có trong chuẩn."
    return "Sai cấu trúc CAP 1.2."


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def screen(data: bytes, *, max_bytes: int = MAX_BYTES) -> None:
    """Refuse what is too big, not well-formed, or carries a DTD/entities (before any binding)."""
    if len(data) > max_bytes:
        raise CapInvalid(
            "cap_too_large", f"Bản tin dài {len(data)} byte, vượt giới hạn {max_bytes}."
        )
    try:
        SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapInvalid(
            "cap_unsafe_xml", "Bản tin chứa khai báo DTD hoặc thực thể XML: bị từ chối vì an toàn."
        ) from exc
    except SafeET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise CapInvalid(
            "cap_not_xml", f"Không đọc được XML (lỗi ở dòng {line}, cột {column})."
        ) from exc


def parse_cap(data: bytes, *, max_bytes: int = MAX_BYTES) -> CapMessage:
    """A checked CAP 1.2 message from raw bytes, or `CapInvalid` with the reason."""
    screen(data, max_bytes=max_bytes)
    root = SafeET.fromstring(data, forbid_dtd=True)
    if root.tag != f"{{{NAMESPACE}}}alert":
        raise CapInvalid(
            "cap_not_cap12", "Không phải bản tin CAP 1.2 (phần tử gốc không phải “alert” CAP 1.2)."
        )
    try:
        alert = _PARSER.from_bytes(data, Alert)
    except ParserError as exc:
        raise CapInvalid("cap_schema", schema_reason(str(exc))) from exc
    except (TypeError, ValueError) as exc:
        # The bindings' dataclasses refuse a missing required element with a TypeError.
        missing = str(exc).rsplit(":", 1)[-1].strip().strip("'")
        raise CapInvalid("cap_missing_field", f"Thiếu phần tử bắt buộc “{missing}”.") from exc
    for name in ("identifier", "sender"):
        value = getattr(alert, name)
        if not _NO_SPACE.match(value):
            raise CapInvalid(
                "cap_bad_field", f"“{name}” không được chứa khoảng trắng, dấu phẩy, < hay &."
            )
    sent = _instant(alert.sent, "sent")
    assert sent is not None
    msg_type = alert.msg_type.value
    references = tuple(_reference(r) for r in (alert.references or "").split())
    if msg_type in ("Update", "Cancel", "Ack", "Error") and not references:
        raise CapInvalid("cap_missing_references", f"Bản tin “{msg_type}” phải có “references”.")
    infos = tuple(_info(i) for i in alert.infos)
    return CapMessage(
        identifier=alert.identifier,
        sender=alert.sender,
        sent=sent,
        status=alert.status.value,
        msg_type=msg_type,
        scope=alert.scope.value,
        references=references,
        infos=infos,
    )


def peek_header(data: bytes) -> dict[str, str]:
    """Identifier, sender, sent and msgType read from an invalid message where possible."""
    out: dict[str, str] = {}
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except Exception:
        return out
    for name in ("identifier", "sender", "sent", "msgType"):
        node = root.find(f"{{{NAMESPACE}}}{name}")
        if node is not None and node.text:
            out[name] = node.text.strip()[:200]
    return out
