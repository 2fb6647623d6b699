"""Sign-in rate limiting: a sliding window of failures per (username, address); clock passed in."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pa_server.auth.errors import RateLimited


@dataclass
class SignInLimiter:
    """Refuses sign-in for a (username, address) pair after `max_failures` within `window`.

    Kept in memory: a restart forgets failures, which is acceptable for a single server (an
    attacker gains one window per restart); several replicas each keep their own count.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)
    #: Bound on the number of tracked pairs so a flood of made-up usernames cannot grow memory.
    max_keys: int = 10_000
    _failures: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict, repr=False)

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return (username.strip().casefold(), address)

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, username: str, address: str, *, now: datetime) -> None:
        """Raise `RateLimited` when this pair has used up its failures in the window."""
        times = self._recent(self._key(username, address), now)
        if len(times) >= self.max_failures:
            retry = times[0] + self.window - now
            raise RateLimited(max(1, int(retry.total_seconds() + 0.999)))

    def record_failure(self, username: str, address: str, *, now: datetime) -> None:
        """Count one failed sign-in for this pair at `now`."""
        key = self._key(username, address)
        times = self._recent(key, now)
        if key not in self._failures:
            if len(self._failures) >= self.max_keys:
                self._prune(now)
            self._failures[key] = times
        times.append(now)

    def record_success(self, username: str, address: str) -> None:
        """Forget the failures of this pair (the person got their password right)."""
        self._failures.pop(self._key(username, address), None)

    def _prune(self, now: datetime) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        # Still full of live entries: drop the oldest so the newest attacker is still tracked.
        while len(self._failures) >= self.max_keys:
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]
