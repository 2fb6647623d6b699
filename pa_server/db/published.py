"""The dispatcher's `PublishedStore` on the database: last version and hash per target."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import utc_now
from pa_server.db.models import PublishedTimeline


class DbPublishedStore:
    """`get(target)` / `put(target, version, content_hash)`, each its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, target: str) -> tuple[int, str] | None:
        with self._sessions() as session:
            row = session.get(PublishedTimeline, target)
            return None if row is None else (row.version, row.content_hash)

    def put(self, target: str, version: int, content_hash: str) -> None:
        with self._sessions() as session, session.begin():
            row = session.get(PublishedTimeline, target)
            if row is None:
                session.add(
                    PublishedTimeline(
                        target=target,
                        version=version,
                        content_hash=content_hash,
                        published_at=utc_now(),
                    )
                )
            else:
                row.version, row.content_hash, row.published_at = version, content_hash, utc_now()

    def targets(self) -> list[str]:
        """Every target a timeline was ever published for."""
        with self._sessions() as session:
            return list(session.scalars(select(PublishedTimeline.target)))
