"""Reading CAP 1.2 safely: what is refused, and why (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pa_server.alerts import CapInvalid
from pa_server.alerts.areas import inside_polygon, outermost, zones_of_areas
from pa_server.alerts.cap import parse_cap
from pa_server.alerts.feed import next_poll
from pa_server.alerts.policy import Policy
from tests.pa_server.alerts.capdocs import POLYGON, area, cap, entity_bomb

SENT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def _refused(doc: bytes) -> CapInvalid:
    with pytest.raises(CapInvalid) as caught:
        parse_cap(doc)
    return caught.value


def test_the_documented_examples_are_valid() -> None:
    alert = parse_cap((EXAMPLES / "canh-bao-lu.xml").read_bytes())
    cancel = parse_cap((EXAMPLES / "huy-canh-bao-lu.xml").read_bytes())
    assert cancel.msg_type == "Cancel" and cancel.references == (alert.key,)


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (entity_bomb(), "cap_unsafe_xml"),
        (b"<alert", "cap_not_xml"),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', "cap_not_cap12"),
        (cap("A", SENT).replace(b"<severity>Extreme", b"<severity>Huge"), "cap_schema"),
        (cap("A", SENT).replace(b"<scope>", b"<bogus/><scope>"), "cap_schema"),
        (cap("A", SENT).replace(b"<event>L\xc5\xa9 qu\xc3\xa9t</event>", b""), "cap_missing_field"),
        (cap("A B", SENT), "cap_bad_field"),
        (cap("A", SENT, msg_type="Update"), "cap_missing_references"),
        (cap("A", SENT).replace(b"+00:00</sent>", b"</sent>"), "cap_no_timezone"),
        (cap("A", SENT, areas=area(polygon="21,105 22,105 22,106")), "cap_bad_area"),
        (cap("A", SENT, areas=area(circle="21,105 -3")), "cap_bad_area"),
        (b"<x>" + b"a" * 300_000 + b"</x>", "cap_too_large"),
    ],
)
def test_refused_with_a_code_and_a_vietnamese_reason(doc: bytes, code: str) -> None:
    refused = _refused(doc)
    assert refused.code == code and refused.reason


def test_reference_keys_are_normalised_to_utc() -> None:
    hanoi = SENT.astimezone(timezone(timedelta(hours=7)))  # 10:00+07:00 is 03:00Z
    update = parse_cap(cap("B", SENT, msg_type="Update", references=[("A", hanoi)]))
    assert update.references == (f"{update.sender},A,2026-12-01T03:00:00Z",)
    assert parse_cap(cap("A", hanoi)).key == update.references[0]


def test_polygons_circles_and_geocodes_find_zones() -> None:
    msg = parse_cap(cap("P", SENT, areas=area(geocode=None, polygon=POLYGON)))
    points = {"x/a": (21.25, 105.5), "x/b": (21.4, 105.7)}
    assert zones_of_areas(msg.infos[0].areas, geocodes={}, points=points) == {"x/a"}
    ring = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0))
    assert inside_polygon(0.5, 0.5, ring) and not inside_polygon(1.5, 0.5, ring)
    coded = parse_cap(cap("G", SENT, areas=area(geocode=("VN-XA", "1"))))
    assert zones_of_areas(coded.infos[0].areas, geocodes={("*", "1"): "x"}, points={}) == {"x"}
    assert outermost(["x/a/t1", "x/a", "x/b"]) == ["x/a", "x/b"]


def test_policy_levels_auto_and_overrides(tmp_path: Path) -> None:
    shipped = Policy.load()
    assert shipped.decide(["a"], "Extreme", "Immediate", "Observed") == ("emergency", True, 1)
    assert shipped.decide(["a"], "Extreme", "Expected", "Observed") == ("priority", False, 3)
    assert shipped.decide(["a"], "Minor", "Future", "Possible") == ("normal", False, 6)
    own = tmp_path / "policy.toml"
    own.write_text(
        (Path(__file__).resolve().parents[3] / "pa_server/alerts/policy.toml").read_text()
        + '\n[zones."a"]\nauto_levels = []\n[zones."a/b"]\nrepeat_hours = { emergency = 2 }\n'
    )
    policy = Policy.load(own)
    assert policy.decide(["a/b"], "Extreme", "Immediate", "Observed") == ("emergency", False, 2)
    # Two zones: alone only if every zone allows it; the shortest repeat.
    assert policy.decide(["c", "a/b"], "Extreme", "Immediate", "Likely") == ("emergency", False, 1)


def test_feed_back_off_doubles_up_to_a_ceiling() -> None:
    every = timedelta(minutes=5)
    waits = [next_poll(SENT, every, n) - SENT for n in (0, 1, 2, 3, 10)]
    assert waits == [every, every * 2, every * 4, every * 8, timedelta(hours=6)]
