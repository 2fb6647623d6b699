"""The dispatcher's `PublishedStore` on the database: per target, what was last published."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import utc_now
from pa_server.db.models import PublishedTimeline
from pa_server.messaging.dispatch import Published


def _published(row: PublishedTimeline) -> Published:
    return Published(
        version=row.version,
        content_hash=row.content_hash,
        envelope=row.envelope.encode() if row.envelope is not None else None,
        expires_at=row.expires_at,
        items_cut=row.items_cut,
    )


class DbPublishedStore:
    """`get` / `put` / `all` of `Published` rows, each call its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, target: str) -> Published | None:
        with self._sessions() as session:
            row = session.get(PublishedTimeline, target)
            return None if row is None else _published(row)

    def put(self, target: str, published: Published) -> None:
        # Envelopes are canonical JSON in UTF-8: stored as text, they come back byte for byte.
        envelope = published.envelope.decode() if published.envelope is not None else None
        with self._sessions() as session, session.begin():
            row = session.get(PublishedTimeline, target)
            if row is None:
                row = PublishedTimeline(target=target)
                session.add(row)
            row.version = published.version
            row.content_hash = published.content_hash
            row.published_at = utc_now()
            row.envelope = envelope
            row.expires_at = published.expires_at
            row.items_cut = published.items_cut

    def all(self) -> dict[str, Published]:
        """Every target a timeline was ever published for, with what was published."""
        with self._sessions() as session:
            rows = session.scalars(select(PublishedTimeline))
            return {row.target: _published(row) for row in rows}

    def targets(self) -> list[str]:
        """Every target a timeline was ever published for."""
        with self._sessions() as session:
            return list(session.scalars(select(PublishedTimeline.target)))
