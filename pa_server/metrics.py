"""Prometheus metrics of one `pa-server` process, on a private registry, for `/metrics`.

What the database knows (agents online, broadcasts by status) is read by a callable at scrape
time, not counted in memory: every replica then reports the same truth, and a restart loses
nothing. What only this process sees (receipt lag, render cache, its MQTT session) is counted
here. Wiring, in the app factory:

    app.state.metrics = PaMetrics(fleet=..., bus=lambda: runtime.bus, is_leader=...)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = render_metrics(app.state.metrics)
        return Response(content=body, media_type=content_type)

With several replicas, aggregate the database gauges with `max` (each replica reports them)
and sum the per-process counters.

Errors: a source callable that raises does not fail the scrape; its families are left out
and `pa_metrics_source_errors_total{source=...}` counts the failure. Bad arguments raise
`ValueError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: Receipt lag buckets (seconds): live agents answer in well under a second; agents that were
#: offline deliver their receipts when they come back, minutes or hours later.
RECEIPT_LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600)

#: The classic text format `generate_latest` writes. Named here rather than taken from
#: `CONTENT_TYPE_LATEST`, which newer prometheus-client releases point at format 1.0.0 that
#: Prometheus 2.x servers do not announce support for.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Broadcast outcomes always exported (0 when absent) so dashboards see every series. Each
#: occurrence has exactly one (`pa_server.services.reports.broadcast_outcomes` decides):
#: `played` — at least one agent reported `started` or `finished`;
#: `missed` — not played, and an agent reported `missed` or its window (`play_at + max_late_s`)
#: has closed; `planned` — not played and still inside or before its window; `stopped` — stopped
#: by an operator before any agent started it; `cancelled` — withdrawn by a replan.
BROADCAST_STATUSES = ("planned", "played", "missed", "stopped", "cancelled")

#: Receipt types always exported.
RECEIPT_TYPES = ("fetched", "started", "finished", "failed", "skipped", "missed")


@dataclass(frozen=True)
class FleetCounts:
    """What the database says at scrape time."""

    agents_online: int
    agents_known: int
    #: Occurrences by outcome (`BROADCAST_STATUSES`).
    broadcasts: Mapping[str, int] = field(default_factory=dict)
    #: Stored receipts by type (each counted once per device and occurrence).
    receipts: Mapping[str, int] = field(default_factory=dict)
    #: Online agents whose clock is off by more than the drift limit or says it is not synced.
    agents_clock_drift: int = 0


class RendererWithResult(Protocol):
    """Anything with `render(request)` returning a cache-aware result."""

    def render(self, req: Any) -> Any: ...


class CountingRenderer:
    """Wraps a renderer: every render it performs counts a render-cache hit or miss."""

    def __init__(self, inner: RendererWithResult, metrics: PaMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def render(self, req: Any) -> Any:
        """Render through the wrapped renderer, then count the result."""
        result = self.inner.render(req)
        self.metrics.record_render(cache_hit=bool(getattr(result, "cache_hit", False)))
        return result


class BusCounters(Protocol):
    """The counters an MQTT bus keeps (`pa_server.messaging.bus.PahoBus` has them)."""

    @property
    def connected(self) -> bool: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def messages_in(self) -> int: ...
    @property
    def messages_out(self) -> int: ...
    @property
    def dropped(self) -> int: ...


class PaMetrics:
    """One process's metrics: recorders for what happens here, sources read at scrape time."""

    def __init__(
        self,
        *,
        fleet: Callable[[], FleetCounts] | None = None,
        bus: Callable[[], BusCounters | None] | None = None,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        # A private registry: tests and several apps in one process never collide, and the
        # default process/platform collectors are not mixed in unasked.
        self.registry = CollectorRegistry(auto_describe=False)
        self.receipt_lag = Histogram(
            "pa_receipt_lag_seconds",
            "Receipt arrival at the server minus the event time the agent reported.",
            buckets=RECEIPT_LAG_BUCKETS,
            registry=self.registry,
        )
        self.receipt_clock_skew = Counter(
            "pa_receipt_clock_skew",
            "Receipts whose event time lies after their arrival (agent clock ahead).",
            registry=self.registry,
        )
        self.render_cache = Counter(
            "pa_render_cache",
            "Renders by whether the render cache already had the result.",
            ["result"],
            registry=self.registry,
        )
        for result in ("hit", "miss"):
            self.render_cache.labels(result=result)
        self.source_errors = Counter(
            "pa_metrics_source_errors",
            "Scrapes where a metrics source (database, bus) failed; its metrics were left out.",
            ["source"],
            registry=None,
        )
        # Sources before their error counter: a scrape then shows its own failure.
        self.registry.register(_SourceCollector(self, fleet, bus, is_leader))
        self.registry.register(self.source_errors)

    def record_receipt(self, event_at: datetime, received_at: datetime) -> float:
        """Observe one receipt's lag (`received_at - event_at`, seconds); returns it."""
        if event_at.tzinfo is None or received_at.tzinfo is None:
            raise ValueError("receipt lag needs timezone-aware datetimes")
        lag = (received_at - event_at).total_seconds()
        if lag < 0:
            # Counted, and observed as zero: a skewed clock must not vanish from the histogram.
            self.receipt_clock_skew.inc()
            lag = 0.0
        self.receipt_lag.observe(lag)
        return lag

    def record_render(self, *, cache_hit: bool) -> None:
        """Count one render (`Rendition.cache_hit`)."""
        self.render_cache.labels(result="hit" if cache_hit else "miss").inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE


def render_metrics(metrics: PaMetrics) -> tuple[bytes, str]:
    """Body and content type for the `/metrics` route."""
    return metrics.render()


class _SourceCollector(Collector):
    """Turns the source callables into metric families at each scrape."""

    def __init__(
        self,
        owner: PaMetrics,
        fleet: Callable[[], FleetCounts] | None,
        bus: Callable[[], BusCounters | None] | None,
        is_leader: Callable[[], bool] | None,
    ) -> None:
        self._owner = owner
        self._fleet = fleet
        self._bus = bus
        self._is_leader = is_leader

    def collect(self) -> Iterator[Metric]:
        if self._fleet is not None:
            yield from self._guarded("fleet", self._fleet_families)
        if self._bus is not None:
            yield from self._guarded("bus", self._bus_families)
        if self._is_leader is not None:
            yield from self._guarded("leader", self._leader_families)

    def _guarded(self, source: str, make: Callable[[], list[Metric]]) -> list[Metric]:
        try:
            return make()
        except Exception as exc:  # any failure of a source must not break the scrape
            log.warning("metrics source %s failed: %s", source, exc)
            self._owner.source_errors.labels(source=source).inc()
            return []

    def _fleet_families(self) -> list[Metric]:
        assert self._fleet is not None
        counts = self._fleet()
        online = GaugeMetricFamily("pa_agents_online", "Agents whose last state says online.")
        online.add_metric([], counts.agents_online)
        known = GaugeMetricFamily("pa_agents_known", "Agents registered on the server.")
        known.add_metric([], counts.agents_known)
        broadcasts = GaugeMetricFamily(
            "pa_broadcasts",
            "Broadcast occurrences in the database by outcome (planned, played, missed, ...).",
            labels=["status"],
        )
        by_status = dict.fromkeys(BROADCAST_STATUSES, 0) | dict(counts.broadcasts)
        for status, n in sorted(by_status.items()):
            broadcasts.add_metric([status], n)
        receipts = GaugeMetricFamily(
            "pa_receipts",
            "Receipts stored, by type (once per device and occurrence).",
            labels=["type"],
        )
        for kind, n in sorted((dict.fromkeys(RECEIPT_TYPES, 0) | dict(counts.receipts)).items()):
            receipts.add_metric([kind], n)
        drift = GaugeMetricFamily(
            "pa_agents_clock_drift",
            "Online agents whose clock is off beyond the limit or reports itself unsynchronised.",
        )
        drift.add_metric([], counts.agents_clock_drift)
        return [online, known, broadcasts, receipts, drift]

    def _bus_families(self) -> list[Metric]:
        assert self._bus is not None
        bus = self._bus()
        if bus is None:  # not started yet, or stopping
            return []
        connected = GaugeMetricFamily("pa_mqtt_connected", "1 when the MQTT session is up.")
        connected.add_metric([], 1 if bus.connected else 0)
        reconnects = CounterMetricFamily(
            "pa_mqtt_reconnects", "MQTT connections after the first one."
        )
        reconnects.add_metric([], bus.reconnects)
        messages = CounterMetricFamily(
            "pa_mqtt_messages",
            "MQTT messages received (in) and publishes acknowledged (out).",
            labels=["direction"],
        )
        messages.add_metric(["in"], bus.messages_in)
        messages.add_metric(["out"], bus.messages_out)
        dropped = CounterMetricFamily(
            "pa_mqtt_messages_dropped", "Received MQTT messages dropped as malformed."
        )
        dropped.add_metric([], bus.dropped)
        return [connected, reconnects, messages, dropped]

    def _leader_families(self) -> list[Metric]:
        assert self._is_leader is not None
        leader = GaugeMetricFamily(
            "pa_dispatch_leader", "1 when this replica holds the dispatch lease."
        )
        leader.add_metric([], 1 if self._is_leader() else 0)
        return [leader]
