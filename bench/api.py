"""p50/p95 of GET /api/v1/devices with 10,000 devices (SQLite by default, or --database-url).

Prints figures and their ratio to GET /healthz measured in the same run (the app's fixed cost).
Run: .venv/bin/python bench/api.py [--devices 10000] [--requests 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from devices.protocol import utc_now
from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.config import Settings
from pa_server.db.engine import make_engine, upgrade
from pa_server.db.models import Device, Zone


def seed(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    now = utc_now()
    communes = [f"vinh-tuong/xa-{i:02d}" for i in range(20)]
    with engine.begin() as conn:
        zone = {"name": "x", "timezone": "Asia/Ho_Chi_Minh", "created_at": now, "updated_at": now}
        conn.execute(insert(Zone), [{"path": "vinh-tuong", "parent_path": None, **zone}])
        conn.execute(
            insert(Zone), [{"path": c, "parent_path": "vinh-tuong", **zone} for c in communes]
        )
        conn.execute(
            insert(Device),
            [
                {
                    "id": f"loa-{i:05d}",
                    "zone_path": communes[i % len(communes)],
                    "name": f"Loa {i}",
                    "location": "",
                    "credential_hash": "$7$x",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
    engine.dispose()


def timed(client: TestClient, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.text
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(url, args.devices)
        app = create_app(Settings(data_dir=Path(tmp), database_url=url), background=False)
        with TestClient(app) as client:
            # Requests carry a real API token, so the figures include authentication.
            with app.state.sessions() as db:
                user = accounts.create_user(
                    db, "bench", role="viewer", password="bench-password", now=utc_now()
                )
                token, _ = accounts.create_token(db, user, "bench", now=utc_now())
                db.commit()
            client.headers["Authorization"] = f"Bearer {token}"
            base = timed(client, "/healthz", args.requests)
            cases = {
                "first page (limit 100)": "/api/v1/devices",
                "last page (offset 9900)": f"/api/v1/devices?offset={max(0, args.devices - 100)}",
                "one commune (limit 100)": "/api/v1/devices?zone=vinh-tuong/xa-07",
                "page of 1000": "/api/v1/devices?limit=1000",
            }
            print(f"{args.devices} devices, {args.requests} requests each, {url.split(':')[0]}")
            print(
                f"  {'/healthz baseline':24s} p50 {pct(base, 50):7.2f} ms"
                f"  p95 {pct(base, 95):7.2f} ms"
            )
            for name, path in cases.items():
                t = timed(client, path, args.requests)
                print(
                    f"  {name:24s} p50 {pct(t, 50):7.2f} ms  p95 {pct(t, 95):7.2f} ms"
                    f"  ({pct(t, 50) / pct(base, 50):.1f}x baseline)"
                )


if __name__ == "__main__":
    main()
