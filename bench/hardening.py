"""Costs an anonymous client can impose, after the hardening, beside a same-run baseline.

1. Peak RSS and CPU of one anonymous POST of a large JSON body (streamed in 64 KiB chunks
   straight into the ASGI app, no Content-Length) with the body limit (PA_MAX_BODY_BYTES,
   default 2 MiB) and, as the baseline, with the limit raised past the body's size (the
   server before: read and parse everything, then 401). Each case runs in a fresh process.
2. CPU of validating RRULEs that never occur: `validate_rrule` now, beside the unbounded
   dateutil search the old check made (first instant from 2000, walked to year 9999).

Run: .venv/bin/python bench/hardening.py [--mb 150]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.types import Message

NEVER = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=1,2,3,4,5,6,7;BYSETPOS=2",
]
CHUNK = 64 * 1024


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _post_huge(total: int, limit: int, out: Any) -> None:
    """Child process: one anonymous POST of `total` bytes; reports status, peak RSS, CPU."""
    from fastapi.testclient import TestClient

    from pa_server.app import create_app
    from pa_server.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/pa.db", max_body_bytes=limit
        )
        app = create_app(settings, background=False)
        rss_before = _peak_mb()
        # A JSON body whose one string is `total` bytes long, made chunk by chunk.
        pieces = [b'{"title": "'] + [b"x" * CHUNK] * (total // CHUNK) + [b'"}']
        state = {"i": 0, "status": 0}

        async def receive() -> dict[str, Any]:
            i = state["i"]
            state["i"] += 1
            if i >= len(pieces):
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": pieces[i], "more_body": True}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/announcements",
            "raw_path": b"/api/v1/announcements",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5),
            "server": ("bench", 80),
        }
        with TestClient(app):  # runs the lifespan (database), as a real server would have
            cpu = time.process_time()
            asyncio.run(app(scope, receive, send))
            cpu = time.process_time() - cpu
        out.put((state["status"], rss_before, _peak_mb(), cpu))


def body_case(total: int, limit: int) -> tuple[int, float, float, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_post_huge, args=(total, limit, out))
    child.start()
    result: tuple[int, float, float, float] = out.get(timeout=600)
    child.join()
    return result


def rrule_case() -> None:
    from dateutil.rrule import rrulestr

    from pa_server.planning.model import PlanError
    from pa_server.planning.recurrence import parse_rule, validate_rrule

    print("\nRRULEs that never occur: CPU to refuse (now) vs the old unbounded search")
    for text in NEVER:
        parse_rule.cache_clear()
        cpu = time.process_time()
        try:
            validate_rrule(text)
            code = "accepted?!"
        except PlanError as exc:
            code = exc.code
        now = time.process_time() - cpu
        cpu = time.process_time()
        found = next(iter(rrulestr(text, dtstart=datetime(2000, 1, 3))), None)
        old = time.process_time() - cpu
        ratio = old / now if now > 0 else float("inf")
        print(
            f"  {text:58} {code:18} now {now * 1000:7.1f} ms CPU   "
            f"old search {old * 1000:8.1f} ms (found {found})   {ratio:,.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=150, help="size of the anonymous body")
    args = parser.parse_args()
    total = args.mb * 1024 * 1024
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"anonymous POST /api/v1/announcements, {args.mb} MB JSON body, chunked")
    for label, limit in (
        ("with the body limit (2 MiB)", 2 * 1024 * 1024),
        ("baseline: limit past the body", total * 2),
    ):
        status, before, peak, cpu = body_case(total, limit)
        print(
            f"  {label:32} status {status}  peak RSS {peak:7.1f} MB "
            f"(app built: {before:.1f} MB)  CPU {cpu:.2f} s"
        )
    rrule_case()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
