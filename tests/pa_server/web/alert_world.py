"""Alerts in every state on the demo district, for the alert pages' text, phone and browser
tests: one on air, one awaiting approval, one in English, one split between a commune where it
plays alone and one where it waits, an invalid message, a broken feed, a locked publisher."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pa_server.alerts.policy import DEFAULT_FILE
from pa_server.services import alerts
from pa_server.services.context import UseCase, cli_actor
from tests.pa_server.alerts.capdocs import GEOCODE, SENDER, area, cap, invalid_schema
from tests.pa_server.web.support import COMMUNE, NullDispatcher


@dataclass
class AlertWorld:
    """Ids of what the alert pages show."""

    on_air: str
    draft: str
    english: str
    invalid_message: str
    split: str
    publisher: int
    locked_publisher: int


#: A second commune, where the split alert's policy wants a person even for emergencies.
WAITING_COMMUNE = "vinh-tuong/vinh-thinh"


def seed_alerts(app: Any) -> AlertWorld:
    """Add the alerts above through the services (as an admin and as publisher `kttv`)."""
    now = datetime.now(UTC)
    with app.state.sessions() as db:
        uc = UseCase(
            db,
            cli_actor(),
            now,
            app.state.settings,
            NullDispatcher(),
            app.state.renderer,  # type: ignore[arg-type]
        )
        alerts.set_geocode(uc, GEOCODE[0], GEOCODE[1], COMMUNE)
        alerts.set_zone_point(uc, COMMUNE, 21.25, 105.50)
        pub, _ = alerts.create_publisher(uc, "kttv", ["vinh-tuong"], [SENDER])
        feed = alerts.add_feed(uc, pub.id, "http://kttv.test/khong-co.atom")
        feed.last_status, feed.failures, feed.last_error = "error", 2, "Không kết nối được nguồn."
        as_pub = replace(uc, actor=alerts.publisher_actor(pub))
        until = now + timedelta(hours=6)
        on_air = alerts.push_cap(as_pub, cap("LU-1", now, expires=until))
        draft = alerts.push_cap(
            as_pub,
            cap("MUA-1", now, severity="Severe", headline="Mưa lớn diện rộng", expires=until),
        )
        english = alerts.push_cap(
            as_pub, cap("EN-1", now, language="en-US", headline="Flash flood", expires=until)
        )
        invalid = alerts.push_cap(as_pub, invalid_schema(now))
        split = _split_alert(as_pub, now, until)
        # A fresh use case each time: the session's audit actor is the last one made.
        locked, _ = alerts.create_publisher(replace(uc), "bqp", ["vinh-tuong"], [SENDER])
        alerts.lock_publisher(replace(uc), locked.id)
        alerts.push_cap(
            replace(uc, actor=alerts.publisher_actor(locked)), cap("BQP-1", now, expires=until)
        )
        db.commit()
        assert on_air.alert_id and draft.alert_id and english.alert_id and split.alert_id
        return AlertWorld(
            on_air.alert_id,
            draft.alert_id,
            english.alert_id,
            invalid.id,
            split.alert_id,
            pub.id,
            locked.id,
        )


def _split_alert(as_pub: UseCase, now: datetime, until: datetime) -> Any:
    """An emergency over two communes, pushed under a policy that lets it play alone in Tân
    Tiến and wants a person in Vĩnh Thịnh."""
    alerts.set_geocode(replace(as_pub, actor=cli_actor()), "VN-XA", "09002", WAITING_COMMUNE)
    policy = as_pub.settings.data_dir / "split-policy.toml"
    policy.write_text(
        DEFAULT_FILE.read_text(encoding="utf-8")
        + f'\n[zones."{WAITING_COMMUNE}"]\nauto_levels = []\n',
        encoding="utf-8",
    )
    settings = as_pub.settings.model_copy(update={"alert_policy_file": policy})
    areas = area() + area(geocode=("VN-XA", "09002"), desc="Xã Vĩnh Thịnh")
    doc = cap("LU-2", now, headline="Lũ quét hai xã", expires=until, areas=areas)
    return alerts.push_cap(replace(as_pub, settings=settings), doc)


def alert_pages(w: AlertWorld) -> list[tuple[str, str]]:
    """(path, short name) of every alert page."""
    return [
        ("/canh-bao", "alerts"),
        (f"/canh-bao/{w.on_air}", "alert-on-air"),
        (f"/canh-bao/{w.draft}", "alert-draft"),
        (f"/canh-bao/{w.english}", "alert-english"),
        (f"/canh-bao/{w.split}", "alert-split"),
        (f"/canh-bao/ban-tin/{w.invalid_message}", "alert-invalid-message"),
        ("/canh-bao/nguon", "alert-sources"),
        (f"/canh-bao/nguon/phat-hanh/{w.publisher}", "alert-publisher"),
        (f"/canh-bao/nguon/phat-hanh/{w.locked_publisher}", "alert-publisher-locked"),
        ("/canh-bao/khong-co", "alert-not-found"),
        (f"/cong-khai/{COMMUNE}", "public-with-alert"),
        ("/nhat-ky", "audit-with-alerts"),
    ]
