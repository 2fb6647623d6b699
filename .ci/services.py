#!/usr/bin/env python3
"""Find (--detect) or start (--ensure) the PostgreSQL and Mosquitto the tests use.

--detect prints shell `export` lines for PA_TEST_DATABASE_URL and PA_TEST_MQTT_URL, keeping
values already set in the environment and naming a service only if it answers on its port.
--ensure starts a service that is installed but not answering (CI machines), and fails loudly
if it still does not answer.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MQTT_URL = "mqtt://127.0.0.1:1883"


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def start_postgres() -> None:
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    if not versions:
        sys.exit("PostgreSQL is not installed (no /etc/postgresql): apt-get install postgresql")
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"]
    subprocess.run(cmd, check=False)


def start_mosquitto() -> None:
    run_dir = Path("/run/mosquitto")
    run_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "mosquitto", str(run_dir)], check=False)
    subprocess.run(["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"], check=False)


def wait_for(port: int, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(port):
            return
        time.sleep(0.5)
    sys.exit(f"{what} is still not answering on 127.0.0.1:{port} after {seconds:.0f} s")


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--detect"
    if mode == "--ensure":
        if not answers(5432):
            print("starting PostgreSQL", file=sys.stderr)
            start_postgres()
            wait_for(5432, "PostgreSQL")
        if not answers(1883):
            print("starting Mosquitto", file=sys.stderr)
            start_mosquitto()
            wait_for(1883, "Mosquitto")
        return
    db = os.environ.get("PA_TEST_DATABASE_URL") or (PG_URL if answers(5432) else "")
    mq = os.environ.get("PA_TEST_MQTT_URL") or (MQTT_URL if answers(1883) else "")
    print(f"export PA_TEST_DATABASE_URL={shlex.quote(db)} PA_TEST_MQTT_URL={shlex.quote(mq)}")


if __name__ == "__main__":
    main()
