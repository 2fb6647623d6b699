"""The merged plan alone: what it chooses at an instant, given what is ready (pure, no threads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices import protocol
from devices.plan import Plan
from tests.devices.support import FakeServer, item, live_item

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
SERVER = FakeServer()
CACHED = SERVER.put(b"in the cache")
MISSING = SERVER.put(b"answers 404")
EMERGENCY = protocol.EMERGENCY_PRIORITY


def ready(i: protocol.Item) -> bool:
    return i.media == CACHED


def timeline(target: str, *items: protocol.Item) -> protocol.TimelineBody:
    return protocol.TimelineBody(
        target=target,
        version=protocol.instant_ms(NOW),
        horizon_until=NOW + timedelta(hours=1),
        items=items,
    )


def decide(plan: Plan, at: datetime, *, synced: bool = True) -> tuple[str | None, list[str]]:
    d = plan.decide(at, synced=synced, ready=ready, warm_at=at)
    return (d.choice.item.occurrence_id if d.choice else None), [m.occurrence_id for m in d.missed]


def test_an_item_without_its_media_never_blocks_one_with_it() -> None:
    plan = Plan()
    plan.command(item(MISSING, None, occurrence_id="now-404", priority=EMERGENCY), NOW)
    plan.set_timeline(
        timeline("zone:a", item(CACHED, NOW + timedelta(seconds=5), occurrence_id="t")), NOW
    )
    assert decide(plan, NOW) == ("t", [])
    d = plan.decide(NOW, synced=True, ready=ready, warm_at=NOW)
    assert d.next_deadline == NOW + timedelta(seconds=60)  # to report the 404 one missed


def test_emergencies_go_first_among_what_is_due_and_asap_yields_to_higher_priority() -> None:
    plan = Plan()
    at = NOW + timedelta(seconds=1)
    plan.set_timeline(
        timeline(
            "zone:a",
            item(CACHED, NOW, occurrence_id="normal"),
            item(CACHED, at, occurrence_id="sos", priority=EMERGENCY),
        ),
        NOW,
    )
    plan.command(item(CACHED, None, occurrence_id="asap", priority=80), NOW)
    later = NOW + timedelta(seconds=2)
    assert decide(plan, later)[0] == "sos"  # due, emergency: before the asap play
    plan.mark_done(plan.items[1], later)
    assert decide(plan, later)[0] == "asap"  # 80 over a due normal item


def test_an_unsynced_clock_holds_timed_items_but_not_asap_plays() -> None:
    plan = Plan()
    plan.set_timeline(timeline("zone:a", item(CACHED, NOW, occurrence_id="timed")), NOW)
    assert decide(plan, NOW, synced=False) == (None, [])
    plan.command(item(CACHED, None, occurrence_id="asap"), NOW)
    assert decide(plan, NOW, synced=False) == ("asap", [])


def test_missed_when_the_window_has_passed_and_never_again() -> None:
    plan = Plan()
    t = item(CACHED, NOW, occurrence_id="t", max_late_s=10)
    plan.set_timeline(timeline("zone:a", t), NOW)
    late = NOW + timedelta(seconds=11)
    assert decide(plan, late) == (None, ["t"])
    plan.mark_done(t, late)
    assert decide(plan, late) == (None, [])
    assert plan.command(t, late) is False  # handled: a replayed command does not bring it back


def test_the_most_specific_target_wins_and_absurd_items_are_dropped() -> None:
    plan = Plan()
    zone_copy = item(CACHED, NOW + timedelta(minutes=1), occurrence_id="o", volume=10)
    device_copy = zone_copy.model_copy(update={"volume": 90})
    absurd = item(CACHED, NOW + timedelta(days=365), occurrence_id="absurd")
    live = protocol.Item(
        occurrence_id="live",
        play_at=NOW,
        until=NOW + timedelta(minutes=5),
        live=protocol.Live(engine="snapcast", host="pa.example.vn", port=1704, stream="vov1"),
    )
    assert plan.set_timeline(timeline("zone:a", zone_copy, absurd, live), NOW) == [absurd]
    plan.set_timeline(timeline("device:loa-01", device_copy), NOW)
    assert [(i.occurrence_id, i.volume) for i in plan.items] == [("live", None), ("o", 90)]
    assert plan.pinned() == {CACHED.sha256}


def test_withdraw_skips_what_is_pending_once() -> None:
    plan = Plan()
    t = item(CACHED, NOW + timedelta(minutes=1), occurrence_id="t")
    plan.set_timeline(timeline("zone:a", t), NOW)
    plan.command(item(CACHED, None, occurrence_id="t"), NOW)
    assert [i.occurrence_id for i in plan.withdraw("t", NOW)] == ["t"]
    assert plan.withdraw("t", NOW) == []
    assert decide(plan, NOW + timedelta(minutes=1)) == (None, [])


def live_ready(i: protocol.Item) -> bool:
    return i.is_live or ready(i)


def test_a_live_item_first_starts_within_max_late_s_and_never_after_until() -> None:
    plan = Plan()
    late = live_item(NOW, NOW + timedelta(minutes=30), occurrence_id="l", max_late_s=60)
    short = live_item(NOW, NOW + timedelta(seconds=20), occurrence_id="s", max_late_s=600)
    plan.set_timeline(timeline("zone:a", late, short), NOW)
    d = plan.decide(NOW + timedelta(seconds=10), synced=True, ready=live_ready, warm_at=NOW)
    assert d.choice is not None and d.choice.item.occurrence_id == "l"
    d = plan.decide(NOW + timedelta(seconds=61), synced=True, ready=live_ready, warm_at=NOW)
    # past l's max_late_s and s's until (before its max_late_s): both missed
    assert d.choice is None and {m.occurrence_id for m in d.missed} == {"l", "s"}


def test_an_interrupted_live_item_resumes_until_its_until_then_ends_once() -> None:
    plan = Plan()
    live = live_item(NOW, NOW + timedelta(minutes=10), occurrence_id="l")
    sos = item(CACHED, NOW + timedelta(minutes=1), occurrence_id="sos", priority=EMERGENCY)
    plan.set_timeline(timeline("zone:a", live, sos), NOW)
    warm = NOW - timedelta(seconds=3)
    assert plan.live_started(live, NOW) is True
    at = NOW + timedelta(minutes=1)
    d = plan.decide(at, synced=True, ready=live_ready, warm_at=warm, current=live)
    assert d.choice is not None and d.choice.item.occurrence_id == "sos"  # live is not chosen
    plan.mark_done(sos, at)
    d = plan.decide(at, synced=True, ready=live_ready, warm_at=warm)
    assert d.choice is not None and d.choice.item.occurrence_id == "l"  # resumes at once
    assert d.choice.start_at == NOW  # already due: no wait
    assert plan.live_started(live, at) is False  # a resume, not a second start
    end = NOW + timedelta(minutes=10)
    d = plan.decide(end, synced=True, ready=live_ready, warm_at=warm)
    assert d.choice is None and [i.occurrence_id for i in d.ended] == ["l"]
    assert plan.decide(end, synced=True, ready=live_ready, warm_at=warm).ended == ()


def test_a_live_item_joined_late_waits_for_the_pre_roll() -> None:
    plan = Plan()
    plan.command(live_item(None, NOW + timedelta(minutes=5), occurrence_id="l"), NOW)
    warm = NOW + timedelta(seconds=3)
    d = plan.decide(NOW, synced=True, ready=live_ready, warm_at=warm)
    assert d.choice is not None and d.choice.start_at == warm
    assert plan.items[0].play_at == NOW  # "as soon as possible" is "from now on"
