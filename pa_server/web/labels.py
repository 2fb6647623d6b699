"""Vietnamese words for the server's codes (statuses, levels, roles, receipts), from labels.toml.

One table, read by every page, so a state is said one way everywhere. A code the table does
not know is said "Không rõ" (and logged), never shown raw.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

LABELS_FILE = Path(__file__).resolve().parent / "labels.toml"
UNKNOWN = "Không rõ"

#: The receipts of one device for one broadcast, from most to least final: the first one a
#: device has is its state ("finished" wins over "started", so a finished device is never
#: "đang phát").
RECEIPT_ORDER = ("finished", "failed", "missed", "skipped", "started", "fetched")


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
    """One device's state for one broadcast: its most final receipt, or "none"."""
    for kind in RECEIPT_ORDER:
        if getattr(delivery, kind, None) is not None:
            return kind
    return "none"


@dataclass(frozen=True)
class DeliveryTally:
    """Devices of one broadcast by state; each device is counted once, in its latest state."""

    expected: int
    finished: int
    playing: int
    fetched: int
    failed: int
    missed: int
    skipped: int
    silent: int

    @property
    def sentence(self) -> str:
        """ "Đã phát xong 2/5 loa · đang phát 1 · lỗi 1 · chưa báo 1" (zero parts left out)."""
        if self.expected == 0:
            return "Không có loa nào trong nơi phát."
        parts = [f"{label('receipt', 'finished')} {self.finished}/{self.expected} loa"]
        for key, n in (
            ("started", self.playing),
            ("fetched", self.fetched),
            ("failed", self.failed),
            ("missed", self.missed),
            ("skipped", self.skipped),
            ("none", self.silent),
        ):
            if n:
                parts.append(f"{label('receipt', key).lower()} {n}")
        return " · ".join(parts)


def tally(devices: Sequence[Any], expected: int | None = None) -> DeliveryTally:
    """Count per-device deliveries (`DeviceDelivery`) by their latest receipt."""
    counts = dict.fromkeys((*RECEIPT_ORDER, "none"), 0)
    for d in devices:
        counts[receipt_key(d)] += 1
    total = len(devices) if expected is None else max(expected, len(devices))
    return DeliveryTally(
        expected=total,
        finished=counts["finished"],
        playing=counts["started"],
        fetched=counts["fetched"],
        failed=counts["failed"],
        missed=counts["missed"],
        skipped=counts["skipped"],
        silent=counts["none"] + (total - len(devices)),
    )


def counts_sentence(counts: Any) -> str:
    """The same sentence from `DeliveryCounts` alone (no per-device rows, as on the overview).

    A device that started and then finished has both receipts, so "đang phát" is those that
    started and have not ended yet.
    """
    ended = counts.finished + counts.failed + counts.skipped
    playing = max(0, counts.started - ended)
    reported = counts.finished + counts.failed + counts.skipped + counts.missed + playing
    fetched = max(0, counts.fetched - reported)
    return DeliveryTally(
        expected=counts.expected,
        finished=counts.finished,
        playing=playing,
        fetched=fetched,
        failed=counts.failed,
        missed=counts.missed,
        skipped=counts.skipped,
        silent=max(0, counts.expected - reported - fetched),
    ).sentence


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
