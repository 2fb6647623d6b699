"""How closely N simulated agents of one zone start the same item (actual start − play_at).

    .venv/bin/python bench/sync.py --count 50 [--broker mqtt://127.0.0.1:1883] [--lead 10]

Starts `pa-device simulate` (file player) in a child process, a media server and a signer
here; publishes one zone timeline with an item at now + lead; reads every agent's
`plays.jsonl` and prints the distribution of start errors. Target: p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices import protocol
from tests.devices.support import (
    EmbeddedAmqtt,
    MediaServer,
    MqttPeer,
    Signer,
    clear_retained,
    item,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--lead", type=float, default=10.0, help="seconds from publish to play_at")
    ap.add_argument("--broker", default=os.environ.get("PA_TEST_MQTT_URL") or "")
    ap.add_argument("--per-process", type=int, default=180)  # simulate.PER_PROCESS
    args = ap.parse_args()

    embedded = None
    if not args.broker:
        embedded = EmbeddedAmqtt()
        embedded.start()
        args.broker = embedded.url
    prefix = f"bench-{uuid.uuid4().hex[:8]}/v1"
    zone = "bench/xa"
    media_server = MediaServer()
    signer = Signer()
    media = media_server.put(os.urandom(64 * 1024), duration_ms=1000)
    peer = MqttPeer(args.broker)
    peer.subscribe(f"{prefix}/state/+")
    with tempfile.TemporaryDirectory(prefix="pa-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = [
            sys.executable,
            "-m",
            "devices.cli",
            "simulate",
            "--count",
            str(args.count),
            "--zone",
            zone,
            "--server",
            media_server.url,
            "--broker",
            args.broker,
            "--player",
            "file",
            "--output",
            str(out),
            "--prefix",
            prefix,
            "--public-key",
            f"{signer.kid}={signer.public_b64}",
            "--state-dir",
            str(Path(tmp) / "state"),
            "--per-process",
            str(args.per_process),
        ]
        t0 = time.monotonic()
        sim = subprocess.Popen(cmd, stderr=open(Path(tmp) / "sim.log", "w"))  # noqa: SIM115
        try:
            while True:
                online = {
                    json.loads(p)["device_id"]
                    for p in peer.on("")
                    if json.loads(p).get("online") and json.loads(p).get("clock_synced")
                }
                if len(online) >= args.count:
                    break
                if time.monotonic() - t0 > 60 + args.count / 10:
                    print(f"only {len(online)}/{args.count} agents came online", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            print(f"{args.count} agents online and clock-synced in {time.monotonic() - t0:.1f} s")
            play_at = protocol.utc_now() + timedelta(seconds=args.lead)
            it = item(media, play_at)
            topic = protocol.Topics(prefix).timeline_zone(zone)
            peer.publish(topic, signer.timeline(f"zone:{zone}", [it]), retain=True)
            time.sleep(args.lead + 2.5)
            lines = []
            for log in out.glob("*/plays.jsonl"):
                lines += [json.loads(x) for x in log.read_text().splitlines()]
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(60)
            if os.environ.get("BENCH_KEEP_LOG"):
                (Path(os.environ["BENCH_KEEP_LOG"])).write_text((Path(tmp) / "sim.log").read_text())
            if len(lines) < args.count:
                log_text = (Path(tmp) / "sim.log").read_text()
                bad = [x for x in log_text.splitlines() if "WARNING" in x or "ERROR" in x]
                print("\n".join(bad[-30:]), file=sys.stderr)
    late = [
        x["started_at_us"] / 1000 - play_at.timestamp() * 1000
        for x in lines
        if x["occurrence_id"] == it.occurrence_id
    ]
    peer.close()
    clear_retained(args.broker, prefix)
    media_server.close()
    if embedded:
        embedded.close()
    if not late:
        print("no agent played", file=sys.stderr)
        return 1
    print(f"broker {args.broker}, {len(late)}/{args.count} agents played")
    print(
        f"start error (actual − play_at), ms: min {min(late):.2f}  p50 {percentile(late, 50):.2f}"
        f"  p99 {percentile(late, 99):.2f}  max {max(late):.2f}"
        f"  spread {max(late) - min(late):.2f}  mean {statistics.fmean(late):.2f}"
    )
    ok = percentile(late, 99) <= 20 and len(late) == args.count
    print("target p99 <= 20 ms:", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
