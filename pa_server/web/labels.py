"""Vietnamese words for the server's codes (statuses, levels, roles, receipts), from labels.toml.

One table, read by every page, so a state is said one way everywhere. A code the table does
not know is said "Không rõ" (and logged), never shown raw.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from pa_server.services import programme
from pa_server.services.programme import DeviceTally

log = logging.getLogger(__name__)

LABELS_FILE = Path(__file__).resolve().parent / "labels.toml"
UNKNOWN = "Không rõ"

#: The receipts of one device for one broadcast, from most to least final (the services' order).
RECEIPT_ORDER = programme.RECEIPT_ORDER


@cache
def table() -> dict[str, dict[str, str]]:
    """Every kind → code → Vietnamese label, as read from labels.toml."""
    with LABELS_FILE.open("rb") as fh:
        data: dict[str, dict[str, str]] = tomllib.load(fh)
    return data


def label(kind: str, code: object) -> str:
    """The Vietnamese label of `code` among `kind` ("level", "role", …); "Không rõ" if unknown."""
    key = "" if code is None else str(getattr(code, "value", code))
    found = table().get(kind, {}).get(key)
    if found is None:
        log.warning("no Vietnamese label for %s %r", kind, key)
        return UNKNOWN
    return found


def options(kind: str, codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(code, label) pairs for a <select>, in the table's order (or the order of `codes`)."""
    chosen = list(codes) if codes is not None else list(table()[kind])
    return [(c, label(kind, c)) for c in chosen]


def announcement_status(status: str, *, rejected: bool = False) -> str:
    """ "Bị từ chối" for an archived draft that was rejected, else the status's label."""
    return label("announcement_status", "rejected" if rejected and status == "archived" else status)


def link_key(online: bool | None) -> str:
    """ "online", "offline" (was connected, is not) or "never" (no state ever received)."""
    if online is None:
        return "never"
    return "online" if online else "offline"


class HasOnline(Protocol):
    """Anything with a tri-state `online` (a `DevicePublic`)."""

    online: bool | None


def link_counts(devices: Iterable[HasOnline]) -> dict[str, int]:
    """How many devices are online, offline and never connected (the device page's words)."""
    counts = {"online": 0, "offline": 0, "never": 0}
    for d in devices:
        counts[link_key(d.online)] += 1
    return counts


def receipt_key(delivery: Any) -> str:
    """One device's state for one broadcast (a `DeviceDelivery`): its most final receipt."""
    return programme.device_state(k for k in RECEIPT_ORDER if getattr(delivery, k, None))


#: Kept for code that imports the old name: the tally is the services' `DeviceTally`.
DeliveryTally = DeviceTally


def tally_sentence(t: DeviceTally) -> str:
    """ "Đã phát xong 2/5 loa · đang phát 1 · lỗi 1 · chưa báo 1" (zero parts left out).

    Each loudspeaker is counted once, in its latest state, so the parts add up to the whole
    and "đang phát" never counts a loudspeaker that has finished.
    """
    if t.expected == 0:
        return "Không có loa nào trong nơi phát."
    parts = [f"{label('receipt', 'finished')} {t.finished}/{t.expected} loa"]
    for key, n in (
        ("started", t.playing),
        ("fetched", t.fetched),
        ("failed", t.failed),
        ("missed", t.missed),
        ("skipped", t.skipped),
        ("none", t.silent),
    ):
        if n:
            parts.append(f"{label('receipt', key).lower()} {n}")
    return " · ".join(parts)


def tally(devices: Sequence[Any], expected: int | None = None) -> DeviceTally:
    """Count per-device deliveries (`DeviceDelivery`) by their latest receipt.

    `expected` counts loudspeakers meant to play it that have no row (they are silent).
    """
    states = {str(i): receipt_key(d) for i, d in enumerate(devices)}
    missing = [f"~{i}" for i in range(max(0, (expected or 0) - len(devices)))]
    return programme.tally_states(states, [*states, *missing])


def voice(kind: str, engines: Sequence[str], fell_back: bool) -> str:
    """Where the voice came from: "Giọng ghi âm", or the engine (and "dự phòng" if it fell back).

    A recording's chime and spoken intro come from a TTS engine too; that is not a fallback
    and a person only cares that it is their recorded voice.
    """
    if kind == "recording":
        return label("voice", "recording")
    spoken = [e for e in engines if e != "recording"]
    names = [
        label("voice", e) if e in table()["voice"] else label("voice", "unknown") for e in spoken
    ]
    text = ", ".join(dict.fromkeys(names)) or label("voice", "unknown")
    return text + (" (giọng dự phòng, vì giọng chính không dùng được)" if fell_back else "")


#: What an agent's English `last_error` / receipt detail means, for the device page.
_DEVICE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), vi)
    for p, vi in (
        (r"protocol version", "Phần mềm trên loa khác phiên bản với máy chủ, cần cập nhật."),
        (r"signature|signed|hmac", "Lệnh không có chữ ký hợp lệ, loa đã bỏ qua."),
        (r"checksum|sha256|hash mismatch", "Tệp âm thanh tải về bị hỏng, loa sẽ tải lại."),
        (r"download|fetch|http|url|connect", "Loa không tải được tệp âm thanh."),
        (
            r"alsa|player|audio device|sound",
            "Loa không phát được âm thanh (lỗi thiết bị âm thanh).",
        ),
        (r"decode|codec|format", "Loa không đọc được tệp âm thanh."),
        (r"disk|space|storage|no such file", "Bộ nhớ của loa có vấn đề."),
        (r"clock|time", "Đồng hồ của loa chưa đúng."),
        (r"stopped by command", "Đã dừng theo lệnh."),
        (r"relay|gpio", "Không bật được rơ-le khuếch đại."),
        (r"late|too late|window", "Đến quá muộn so với giờ phát."),
        (r"scheduler", "Bộ hẹn giờ trên loa gặp lỗi."),
    )
)


def device_error(detail: str | None) -> str:
    """A Vietnamese sentence for an agent's technical error text ("" when there is none)."""
    if not detail:
        return ""
    for pattern, vi in _DEVICE_ERRORS:
        if pattern.search(detail):
            return vi
    return "Loa báo lỗi kỹ thuật."


def flags(codes: Iterable[str]) -> list[str]:
    """Labels of a device's problem flags."""
    return [label("device_flag", c) for c in codes]


def all_labels() -> Mapping[str, Mapping[str, str]]:
    """The whole table (for templates that list every choice of a kind)."""
    return table()
