"""Properties of the agent's plan: merging the timelines of its targets, and triage at `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from devices import protocol
from devices.timeline import deadline, merge, sort_key, target_rank, triage

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
MEDIA = protocol.Media(url="http://s/m.mp3", sha256="ab" * 32, bytes=10, duration_ms=1000)
#: What one agent (loa-01 in a/b/c) listens to: one target per depth, and itself.
TARGETS = ["zone:a", "zone:a/b", "zone:a/b/c", "device:loa-01"]
#: Few ids, so that the same occurrence often sits on several targets.
OCCURRENCES = [f"occ-{i}" for i in range(6)]


@st.composite
def timelines(draw: st.DrawFn) -> dict[str, protocol.TimelineBody]:
    """A timeline for some of the agent's targets; items tagged with their target in `title`."""
    chosen = draw(st.lists(st.sampled_from(TARGETS), unique=True, max_size=4))
    result = {}
    for target in chosen:
        ids = draw(st.lists(st.sampled_from(OCCURRENCES), unique=True, max_size=5))
        items = tuple(
            protocol.Item(
                occurrence_id=occ,
                title=target,
                play_at=NOW + timedelta(seconds=draw(st.integers(-3600, 3600))),
                max_late_s=draw(st.integers(0, 600)),
                priority=draw(st.integers(0, 100)),
                media=MEDIA,
            )
            for occ in ids
        )
        result[target] = protocol.TimelineBody(
            target=target, version=1, horizon_until=NOW + timedelta(days=1), items=items
        )
    return result


@given(timelines())
def test_merged_plan_is_sorted_and_holds_each_occurrence_once(
    tls: dict[str, protocol.TimelineBody],
) -> None:
    plan = merge(tls)
    assert list(plan) == sorted(plan, key=sort_key)
    ids = [i.occurrence_id for i in plan]
    assert len(ids) == len(set(ids))
    assert set(ids) == {i.occurrence_id for body in tls.values() for i in body.items}


@given(timelines())
def test_the_most_specific_target_wins(tls: dict[str, protocol.TimelineBody]) -> None:
    for chosen in merge(tls):
        holders = [t for t, b in tls.items() if chosen in b.items]
        assert holders, "an item no timeline holds"
        rivals = [
            t
            for t, b in tls.items()
            if any(i.occurrence_id == chosen.occurrence_id for i in b.items)
        ]
        assert max(map(target_rank, rivals)) == max(map(target_rank, holders))


@given(timelines(), st.randoms(use_true_random=False))
def test_merge_does_not_depend_on_arrival_order(
    tls: dict[str, protocol.TimelineBody], rnd: object
) -> None:
    shuffled = list(tls.items())
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merge(dict(shuffled)) == merge(tls)


@given(
    timelines(),
    st.integers(-4000, 4000),
    st.integers(0, 600),
    st.sets(st.sampled_from(OCCURRENCES)),
)
def test_triage_splits_the_plan_by_deadline_consistently_with_now(
    tls: dict[str, protocol.TimelineBody], offset_s: int, later_s: int, done: set[str]
) -> None:
    plan = merge(tls)
    now = NOW + timedelta(seconds=offset_s)
    tri = triage(plan, done, now)
    # A partition of what is not done, each part in plan order.
    assert [i for i in plan if i.occurrence_id not in done] == sorted(
        tri.missed + tri.upcoming, key=plan.index
    )
    assert list(tri.missed) == sorted(tri.missed, key=plan.index)
    assert list(tri.upcoming) == sorted(tri.upcoming, key=plan.index)
    assert all(deadline(i) < now for i in tri.missed)
    assert all(deadline(i) >= now for i in tri.upcoming)
    # Time only moves items from upcoming to missed, never back.
    after = triage(plan, done, now + timedelta(seconds=later_s))
    assert set(tri.missed) <= set(after.missed)
    assert set(after.upcoming) <= set(tri.upcoming)


@given(timelines())
def test_an_item_is_still_upcoming_at_its_deadline_and_missed_just_after(
    tls: dict[str, protocol.TimelineBody],
) -> None:
    plan = merge(tls)
    for item in plan:
        assert item in triage(plan, (), deadline(item)).upcoming
        assert item in triage(plan, (), deadline(item) + timedelta(milliseconds=1)).missed
