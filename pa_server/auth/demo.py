"""Demo accounts for `pa-server run --demo` (named in the README); only into an empty store."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from pa_server.auth import accounts
from pa_server.auth.models import User

log = logging.getLogger(__name__)

#: Known to anyone who reads the README: for a demo on one's own machine, never in production.
DEMO_PASSWORD = "demo-loa-2026"  # noqa: S105
#: (user name, role, zones, full name)
DEMO_ACCOUNTS = (
    ("quantri", "admin", (), "Quản trị huyện"),
    ("duyet", "approver", (), "Trưởng phòng Văn hóa"),
    ("vanhanh", "operator", ("vinh-tuong/tan-tien",), "Cán bộ đài xã Tân Tiến"),
)


def seed_accounts(sessions: sessionmaker[DbSession], *, now: datetime) -> bool:
    """Create the demo accounts unless any account exists; True if created."""
    with sessions() as db:
        if db.scalar(select(func.count()).select_from(User)):
            return False
        for username, role, zones, full_name in DEMO_ACCOUNTS:
            accounts.create_user(
                db,
                username,
                role=role,
                password=DEMO_PASSWORD,
                zones=zones,
                full_name=full_name,
                now=now,
            )
        db.commit()
    names = ", ".join(f"{u} ({r})" for u, r, _z, _n in DEMO_ACCOUNTS)
    log.info("demo accounts: %s; password %s", names, DEMO_PASSWORD)
    return True
