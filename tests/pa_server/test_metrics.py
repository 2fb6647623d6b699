"""Prometheus exposition of pa-server: parsed back and checked to move with events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pa_server.metrics import FleetCounts, PaMetrics, render_metrics

T0 = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)


def scrape(metrics: PaMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by (name, sorted labels)."""
    body, _ = render_metrics(metrics)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@dataclass
class FakeBusCounters:
    connected: bool = True
    reconnects: int = 0
    messages_in: int = 0
    messages_out: int = 0
    dropped: int = 0


def test_content_type_is_prometheus_text() -> None:
    body, content_type = render_metrics(PaMetrics())
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"pa_receipt_lag_seconds" in body


def test_receipt_lag_histogram_moves() -> None:
    m = PaMetrics()
    assert value(scrape(m), "pa_receipt_lag_seconds_count") == 0
    assert m.record_receipt(T0, T0 + timedelta(seconds=2)) == 2.0
    m.record_receipt(T0, T0 + timedelta(minutes=20))
    s = scrape(m)
    assert value(s, "pa_receipt_lag_seconds_count") == 2
    assert value(s, "pa_receipt_lag_seconds_sum") == 1202.0
    assert value(s, "pa_receipt_lag_seconds_bucket", le="1.0") == 0
    assert value(s, "pa_receipt_lag_seconds_bucket", le="2.5") == 1
    assert value(s, "pa_receipt_lag_seconds_bucket", le="3600.0") == 2


def test_receipt_from_the_future_counts_as_skew_not_lost() -> None:
    m = PaMetrics()
    assert m.record_receipt(T0 + timedelta(seconds=90), T0) == 0.0
    s = scrape(m)
    assert value(s, "pa_receipt_clock_skew_total") == 1
    assert value(s, "pa_receipt_lag_seconds_count") == 1


def test_receipt_lag_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PaMetrics().record_receipt(datetime(2024, 5, 1, 7, 0), T0)


def test_render_cache_hits_and_misses() -> None:
    m = PaMetrics()
    s = scrape(m)
    assert value(s, "pa_render_cache_total", result="hit") == 0  # present before any render
    m.record_render(cache_hit=True)
    m.record_render(cache_hit=True)
    m.record_render(cache_hit=False)
    s = scrape(m)
    assert value(s, "pa_render_cache_total", result="hit") == 2
    assert value(s, "pa_render_cache_total", result="miss") == 1


def test_fleet_gauges_follow_the_source_at_each_scrape() -> None:
    counts = FleetCounts(agents_online=3, agents_known=5, broadcasts={"planned": 4})
    m = PaMetrics(fleet=lambda: counts)
    s = scrape(m)
    assert value(s, "pa_agents_online") == 3
    assert value(s, "pa_agents_known") == 5
    assert value(s, "pa_broadcasts", status="planned") == 4
    assert value(s, "pa_broadcasts", status="played") == 0
    assert value(s, "pa_broadcasts", status="missed") == 0
    counts = FleetCounts(
        agents_online=2, agents_known=5, broadcasts={"planned": 1, "played": 3, "partial": 1}
    )
    s = scrape(m)
    assert value(s, "pa_agents_online") == 2
    assert value(s, "pa_broadcasts", status="played") == 3
    assert value(s, "pa_broadcasts", status="partial") == 1


def test_bus_counters_exported() -> None:
    bus: FakeBusCounters | None = FakeBusCounters(
        reconnects=1, messages_in=10, messages_out=4, dropped=2
    )
    m = PaMetrics(bus=lambda: bus)
    s = scrape(m)
    assert value(s, "pa_mqtt_connected") == 1
    assert value(s, "pa_mqtt_reconnects_total") == 1
    assert value(s, "pa_mqtt_messages_total", direction="in") == 10
    assert value(s, "pa_mqtt_messages_total", direction="out") == 4
    assert value(s, "pa_mqtt_messages_dropped_total") == 2
    assert bus is not None
    bus.reconnects, bus.connected = 2, False
    s = scrape(m)
    assert value(s, "pa_mqtt_reconnects_total") == 2
    assert value(s, "pa_mqtt_connected") == 0
    bus = None  # the runtime is stopping: no bus series, no error
    s = scrape(m)
    assert not any(name.startswith("pa_mqtt") for name, _ in s)
    assert ("pa_metrics_source_errors_total", (("source", "bus"),)) not in s


def test_failing_source_does_not_break_the_scrape() -> None:
    def broken() -> FleetCounts:
        raise RuntimeError("database is down")

    m = PaMetrics(fleet=broken, bus=lambda: FakeBusCounters(messages_in=7), is_leader=lambda: True)
    s = scrape(m)
    assert value(s, "pa_metrics_source_errors_total", source="fleet") == 1
    assert ("pa_agents_online", ()) not in s
    assert value(s, "pa_mqtt_messages_total", direction="in") == 7
    assert value(s, "pa_dispatch_leader") == 1
    assert value(scrape(m), "pa_metrics_source_errors_total", source="fleet") == 2


def test_two_instances_do_not_share_a_registry() -> None:
    a, b = PaMetrics(), PaMetrics()
    a.record_render(cache_hit=True)
    assert value(scrape(a), "pa_render_cache_total", result="hit") == 1
    assert value(scrape(b), "pa_render_cache_total", result="hit") == 0
