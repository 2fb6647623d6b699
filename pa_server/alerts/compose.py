"""The Vietnamese words of an alert: headline, description and instruction of its `vi` info."""

from __future__ import annotations

from pa_server.alerts.cap import InfoSpec

MAX_TITLE = 300
#: Room left for the normaliser's limit (announcements.errors.MAX_TEXT_CHARS is larger).
MAX_TEXT = 4000

CANCEL_TEXT = (
    "Thông báo hủy cảnh báo. Cảnh báo “{title}” đã được cơ quan phát hành hủy bỏ. "
    "Xin cảm ơn bà con."
)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?…" else text + "."


def title_of(info: InfoSpec) -> str:
    """The announcement's title: the headline, else the event."""
    return (info.headline or info.event)[:MAX_TITLE].strip()


def text_of(info: InfoSpec) -> str:
    """What is read aloud: headline, description, instruction, each a sentence."""
    parts = [
        _sentence(p) for p in (info.headline or info.event, info.description, info.instruction)
    ]
    return " ".join(p for p in parts if p)[:MAX_TEXT].strip()
