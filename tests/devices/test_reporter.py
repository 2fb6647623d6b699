"""The reporter alone: receipts journaled until acked, the state throttled under a flood."""

from __future__ import annotations

from pathlib import Path

from devices import protocol
from devices.link import FakeLink
from devices.reporter import Reporter
from devices.storage import ReceiptJournal

T = protocol.Topics("pa/v2")


def make(tmp_path: Path, link: FakeLink, states: list[int]) -> Reporter:
    def state() -> protocol.State:
        states.append(1)
        return protocol.State(device_id="loa-01", online=True)

    return Reporter(
        device_id="loa-01",
        topics=T,
        link=link,
        journal=ReceiptJournal(tmp_path / "receipts.journal"),
        now=protocol.utc_now,
        state=state,
    )


def test_receipts_leave_the_journal_at_their_ack_and_are_resent_otherwise(tmp_path: Path) -> None:
    link = FakeLink(hold_acks=True)
    reporter = make(tmp_path, link, [])
    reporter.emit("a", "started", late_ms=3)
    reporter.emit("b", "missed", detail="x" * 5000)
    assert [r.occurrence_id for _, r in reporter.journal.pending()] == ["a", "b"]
    link.held[0]()  # the broker acknowledged "a" only
    reporter.journal.close()
    again = make(tmp_path, FakeLink(), [])
    again.resend_pending()
    sent = [protocol.parse_receipt(p) for t, p, _ in again.link.published if t == T.event("loa-01")]  # type: ignore[attr-defined]
    assert [(r.occurrence_id, r.type, len(r.detail or "")) for r in sent] == [("b", "missed", 1000)]
    assert again.journal.pending() == []


def test_a_flood_of_refusals_publishes_the_state_once_a_second_at_most(tmp_path: Path) -> None:
    link = FakeLink()
    states: list[int] = []
    reporter = make(tmp_path, link, states)
    for _ in range(100):
        reporter.publish_state_throttled()
    assert len(states) == 1
    reporter.publish_state()  # a ping is always answered
    assert len(states) == 2
    assert all(retain for t, _, retain in link.published if t == T.state("loa-01"))
