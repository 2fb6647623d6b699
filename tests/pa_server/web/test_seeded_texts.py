"""Every seeded text names only the communes it is sent to: the demo district
(`pa_server.services.demo`, `make run DEMO=1`) and the states the page tests add to it
(`support.seed_world`), whose emergency to Tân Tiến once read another commune's campaign."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.db.models import Announcement, Device, Occurrence
from pa_server.services import schedules
from pa_server.services.demo import COMMUNES, DISTRICT
from tests.pa_server.web.support import World
from tests.pa_server.web.test_visible_text import world  # noqa: F401  (fixture)

#: commune slug → its name as the texts say it ("Tân Tiến").
NAMES = {slug: name for slug, name, _villages in COMMUNES}


def _named(*texts: str | None) -> set[str]:
    """The demo communes these texts name."""
    said = " ".join(t for t in texts if t)
    return {slug for slug, name in NAMES.items() if name in said}


def _reached(db: Session, targets: list[str]) -> set[str]:
    """The demo communes `zone:`/`device:` targets reach (the district reaches them all)."""
    out: set[str] = set()
    for target in targets:
        kind, _, ref = target.partition(":")
        path = ref if kind == "zone" else db.get_one(Device, ref).zone_path
        parts = path.split("/")
        out |= {parts[1]} if len(parts) > 1 else set(NAMES) if parts[0] == DISTRICT[0] else set()
    return out


def test_every_seeded_text_names_only_its_targets(world: World) -> None:  # noqa: F811
    checked: set[str] = set()
    with world.client.app.state.sessions() as db:  # type: ignore[attr-defined]
        for occ in db.scalars(select(Occurrence).where(Occurrence.status != "cancelled")):
            ann = db.get(Announcement, occ.announcement_id) if occ.announcement_id else None
            named = _named(occ.title, ann and ann.title, ann and ann.text)
            assert named <= _reached(db, occ.targets), (occ.title, occ.targets, named)
            checked.add(occ.id)
        campaigns, _ = schedules.list_schedules(db, announcement_id=None, limit=500, offset=0)
        for row in campaigns:
            public = schedules.schedule_public(row)
            ann = db.get_one(Announcement, public.announcement_id)
            targets = [f"zone:{z}" for z in public.zones] + [f"device:{d}" for d in public.devices]
            named = _named(public.title, ann.title, ann.text)
            assert named <= _reached(db, targets), (public.title, targets, named)
            checked.add(public.id)
    # The emergency and every commune's campaign were looked at.
    assert world.broadcast in checked and world.schedule in checked
    assert len(campaigns) >= len(NAMES)
