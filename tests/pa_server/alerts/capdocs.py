"""CAP 1.2 documents written for the tests: alert, update, cancel, expired, invalid, unknown
reference, non-Vietnamese, polygon and geocode areas."""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape

SENDER = "kttv-vinhphuc@example.vn"
GEOCODE = ("VN-XA", "09001")  # maps to vinh-tuong/tan-tien in the tests' table
#: A square around Tân Tiến's point (21.25, 105.50) and not around Vĩnh Tường's other villages.
POLYGON = "21.2,105.45 21.3,105.45 21.3,105.55 21.2,105.55 21.2,105.45"


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def area(
    *,
    geocode: tuple[str, str] | None = GEOCODE,
    polygon: str | None = None,
    circle: str | None = None,
    desc: str = "Xã Tân Tiến",
) -> str:
    parts = [f"<areaDesc>{escape(desc)}</areaDesc>"]
    if polygon:
        parts.append(f"<polygon>{polygon}</polygon>")
    if circle:
        parts.append(f"<circle>{circle}</circle>")
    if geocode:
        parts.append(
            f"<geocode><valueName>{geocode[0]}</valueName><value>{geocode[1]}</value></geocode>"
        )
    return "<area>" + "".join(parts) + "</area>"


def cap(
    identifier: str,
    sent: datetime,
    *,
    msg_type: str = "Alert",
    references: list[tuple[str, datetime]] | None = None,
    language: str = "vi-VN",
    severity: str = "Extreme",
    urgency: str = "Immediate",
    certainty: str = "Observed",
    headline: str = "Lũ quét trên sông Phan",
    description: str = "Nước sông Phan lên nhanh, có thể tràn qua đê trong 2 giờ tới.",
    instruction: str = "Bà con vùng trũng di chuyển lên chỗ cao ngay.",
    expires: datetime | None = None,
    areas: str | None = None,
    status: str = "Actual",
    sender: str = SENDER,
) -> bytes:
    refs = ""
    if references:
        refs = (
            "<references>"
            + " ".join(f"{sender},{i},{iso(s)}" for i, s in references)
            + "</references>"
        )
    info = ""
    if msg_type != "Cancel":
        info = (
            f"<info><language>{language}</language><category>Met</category>"
            f"<event>Lũ quét</event><urgency>{urgency}</urgency><severity>{severity}</severity>"
            f"<certainty>{certainty}</certainty>"
            + (f"<expires>{iso(expires)}</expires>" if expires else "")
            + f"<senderName>Đài KTTV Vĩnh Phúc</senderName>"
            f"<headline>{escape(headline)}</headline><description>{escape(description)}</description>"
            f"<instruction>{escape(instruction)}</instruction>"
            + (areas if areas is not None else area())
            + "</info>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        f"<identifier>{identifier}</identifier><sender>{sender}</sender><sent>{iso(sent)}</sent>"
        f"<status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}{info}"
        "</alert>"
    ).encode()


def invalid_schema(sent: datetime) -> bytes:
    """Severity "Huge" is not a CAP 1.2 value."""
    return cap("BAD-1", sent).replace(b"<severity>Extreme", b"<severity>Huge")


def entity_bomb() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol2;</alert>'
    )


def later(at: datetime, **kw: float) -> datetime:
    return at + timedelta(**kw)
