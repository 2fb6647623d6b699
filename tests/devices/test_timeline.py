"""The pure plan logic: merging timelines, triage, the relay's on/off rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices import protocol
from devices.timeline import merge, relay_next_change, relay_wanted, too_far_ahead, triage

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
MEDIA = protocol.Media(url="http://s/m.mp3", sha256="ab" * 32, bytes=10, duration_ms=1000)


def it(occ: str, minutes: float, *, priority: int = 50, title: str = "") -> protocol.Item:
    return protocol.Item(
        occurrence_id=occ,
        title=title,
        play_at=NOW + timedelta(minutes=minutes),
        max_late_s=60,
        priority=priority,
        media=MEDIA,
    )


def body(target: str, *items: protocol.Item) -> protocol.TimelineBody:
    return protocol.TimelineBody(
        target=target, version=1, horizon_until=NOW + timedelta(days=1), items=items
    )


def test_merge_orders_by_time_then_priority_and_prefers_the_most_specific_target() -> None:
    plan = merge(
        {
            "zone:a": body("zone:a", it("x", 10, title="zone a"), it("late", 30)),
            "zone:a/b": body(
                "zone:a/b", it("x", 10, title="zone a/b"), it("urgent", 5, priority=100)
            ),
            "device:loa": body("device:loa", it("same-time", 5), it("x", 10, title="device")),
        }
    )
    assert [i.occurrence_id for i in plan] == ["urgent", "same-time", "x", "late"]
    assert next(i for i in plan if i.occurrence_id == "x").title == "device"


def test_triage_splits_missed_from_upcoming_and_skips_done() -> None:
    plan = merge(
        {"zone:a": body("zone:a", it("old", -2), it("grace", -0.5), it("new", 1), it("done", 2))}
    )
    tri = triage(plan, {"done"}, NOW)
    assert [i.occurrence_id for i in tri.missed] == ["old"]
    assert [i.occurrence_id for i in tri.upcoming] == ["grace", "new"]


def test_play_at_years_away_is_too_far() -> None:
    assert too_far_ahead(it("far", 60 * 24 * 365 * 3), NOW)
    assert not too_far_ahead(it("near", 60 * 24), NOW)


def test_relay_is_on_from_pre_roll_through_post_roll() -> None:
    pre, post = timedelta(seconds=3), timedelta(seconds=5)
    start = NOW + timedelta(seconds=10)
    end = NOW - timedelta(seconds=2)

    def wanted(t: datetime, **kw: object) -> bool:
        args: dict[str, object] = {"playing": False, "next_start": None, "last_end": None}
        args.update(kw)
        return relay_wanted(t, pre_roll=pre, post_roll=post, **args)  # type: ignore[arg-type]

    assert not wanted(NOW, next_start=start)
    assert wanted(start - pre, next_start=start)
    assert wanted(NOW, playing=True)
    assert wanted(NOW, last_end=end)  # 2 s after the end, post-roll 5 s
    assert not wanted(end + post, last_end=end)
    assert relay_next_change(NOW, next_start=start, last_end=end, pre_roll=pre, post_roll=post) == (
        end + post
    )
    assert relay_next_change(
        NOW, next_start=start, last_end=None, pre_roll=pre, post_roll=post
    ) == (start - pre)
