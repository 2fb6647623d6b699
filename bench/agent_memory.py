"""One agent's resident memory (RSS) at each stage of its life, and what each dependency costs.

A child process runs one real `Agent` (file player, no relay) against Mosquitto and the
server's app under uvicorn (for the clock check and /media/); the parent drives it and the
child prints its own `VmRSS` / `VmHWM` from /proc/self/status when told:
  python       the bare interpreter (baseline)
  started      after importing the agent and starting it (connected, clock checked)
  timeline-50  after a signed zone timeline of 50 items (5 distinct 60-s MP3s) is held and
               every item's media fetched and verified
  played       after the file player played one item (`finished` receipt)
  alsa-prepared the alsa player's path on a 143.8-s MP3 (a repeat=2 render,
               bench/render.py): `AlsaPlayer.prepare` opens the decoder at the file's own
               format and decodes a 0.5-s lead-in; no sound card needed
  alsa-streamed after the whole file was pulled through that stream as a card pulls it
               (1,024 frames at a time); VmHWM is the peak over the whole play
  alsa-freed   after the prepared stream is dropped
  old-decode   for comparison, in the same process afterwards: the previous design's
               `miniaudio.decode_file` of the same file to 48 kHz stereo, held
Then, each in a fresh interpreter, the import cost (RSS growth, wall time) of paho, httpx,
pydantic, cryptography, miniaudio, gpiozero and of `devices.agent` as a whole. Target ≤ 60 MB.

    .venv/bin/python bench/agent_memory.py [--broker mqtt://127.0.0.1:1883]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MB = 60.0
IMPORTS = {
    "paho-mqtt": "import paho.mqtt.client",
    "httpx": "import httpx",
    "pydantic": "import pydantic",
    "cryptography (Ed25519)": "from cryptography.hazmat.primitives.asymmetric import ed25519",
    "miniaudio": "import miniaudio",
    "gpiozero": "import gpiozero",
    "devices.agent (paho, httpx, pydantic, cryptography + ours)": "import devices.agent",
}


def rss_kb() -> tuple[int, int, int]:
    """(VmRSS, VmHWM, RssAnon) of this process in kB (RssAnon: private heap, no mapped files)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM", "RssAnon"))  # type: ignore[return-value]


# ------------------------------------------------------------------------------ child


def child(config_path: str, long_mp3: str) -> None:
    """The agent under measurement: reads commands on stdin, answers `rss <label> <kB> <kB>`."""
    print("rss python {} {} {}".format(*rss_kb()), flush=True)
    from devices.agent import Agent
    from devices.config import config_from_mapping
    from devices.players import AlsaPlayer
    from devices.protocol import Item, Media

    config = config_from_mapping(json.loads(Path(config_path).read_text()), env={})
    with Agent(config):
        for line in sys.stdin:
            cmd = line.split()
            if cmd[0] == "measure":
                print("rss {} {} {} {}".format(cmd[1], *rss_kb()), flush=True)
            elif cmd[0] == "alsa":
                data = Path(long_mp3)
                media = Media(
                    url="http://x/m.mp3",
                    sha256="0" * 64,
                    bytes=data.stat().st_size,
                    duration_ms=143_800,
                )
                item = Item(occurrence_id="alsa", title="t", play_at=None, media=media)
                prepared = AlsaPlayer().prepare(item, data)
                print("rss alsa-prepared {} {} {}".format(*rss_kb()), flush=True)
                chunks = prepared.decoded.chunks()
                next(chunks)
                try:
                    while True:
                        chunks.send(1024)
                except StopIteration:
                    pass
                print("rss alsa-streamed {} {} {}".format(*rss_kb()), flush=True)
                del prepared, chunks
                print("rss alsa-freed {} {} {}".format(*rss_kb()), flush=True)
                import miniaudio

                decoded = miniaudio.decode_file(str(data), nchannels=2, sample_rate=48_000)
                print("rss old-decode {} {} {}".format(*rss_kb()), flush=True)
                del decoded
            elif cmd[0] == "quit":
                break


def import_cost(statement: str) -> tuple[float, float]:
    """(RSS growth in MB, seconds) of one import statement in a fresh interpreter."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); "
        "from bench.agent_memory import rss_kb; "
        f"a = rss_kb()[0]; t = time.perf_counter(); {statement}; "
        "print(rss_kb()[0] - a, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kb, secs = out.stdout.split()
    return int(kb) / 1024, float(secs)


# ------------------------------------------------------------------------------ parent


def mp3(seconds: float, seed: int) -> bytes:
    """A speech-like MP3 as the server renders it: 22,050 Hz mono, 64 kb/s (lameenc)."""
    import array

    import lameenc

    rate = 22_050
    rng = __import__("random").Random(seed)
    samples = array.array(
        "h",
        (
            int(8000 * math.sin(2 * math.pi * (180 + 40 * math.sin(i / 3000)) * i / rate))
            + rng.randint(-600, 600)
            for i in range(int(seconds * rate))
        ),
    )
    enc = lameenc.Encoder()
    enc.set_bit_rate(64)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(5)
    return bytes(enc.encode(samples.tobytes()) + enc.flush())


class Reports:
    """Receipts and states the agent publishes, as the server would see them."""

    def __init__(self, broker: str, prefix: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.receipts: list[dict[str, Any]] = []
        self.synced = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"mem-{os.getpid()}")
        self.client.on_message = self._on_message
        host, port = broker.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe([(f"{prefix}/state/+", 1), (f"{prefix}/event/+", 1)])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        if not msg.payload:
            return
        data = json.loads(msg.payload)
        if "/event/" in msg.topic:
            self.receipts.append(data)
        elif data.get("online") and data.get("clock_synced"):
            self.synced.set()

    def wait(self, kind: str, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while sum(1 for r in self.receipts if r["type"] == kind) < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--broker", default=os.environ.get("PA_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"))
    args = ap.parse_args()

    from bench.harness import MediaServerProcess, load_average
    from devices import protocol
    from pa_server.messaging.signing import ServerKeys
    from tests.devices.support import clear_retained

    print(load_average())
    prefix = f"bench-mem-{secrets.token_hex(4)}/v1"
    zone = "bench/xa"
    figures: list[tuple[str, int, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="pa-mem-") as tmp_name:
        tmp = Path(tmp_name)
        keys = ServerKeys.load_or_create(tmp / "keys")
        key = keys.public_keys()[0]
        reports = Reports(args.broker, prefix)
        with MediaServerProcess(tmp / "server") as server:
            medias = [server.put(mp3(60, k), duration_ms=60_000) for k in range(5)]
            short = server.put(mp3(2, 9), duration_ms=2_000)
            (tmp / "long.mp3").write_bytes(mp3(143.8, 7))
            config = {
                "device": {"id": "loa-mem", "zone": zone},
                "mqtt": {"url": args.broker},
                "server": {"url": server.url, "public_keys": {key["kid"]: key["public_key"]}},
                "topic_prefix": prefix,
                "paths": {"state_dir": str(tmp / "state")},
                "player": {"kind": "file", "output_dir": str(tmp / "out")},
                "relay": {"pin": None},
                "fetch": {"spread_s": 0},  # fetch at once: the figure, not the wait
            }
            (tmp / "config.json").write_text(json.dumps(config))
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(tmp / "config.json"),
                str(tmp / "long.mp3"),
            ]
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            assert proc.stdin is not None and proc.stdout is not None

            def measure(label: str) -> None:
                proc.stdin.write(f"measure {label}\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                read_rss()

            def read_rss() -> None:
                _, label, rss, hwm, anon = proc.stdout.readline().split()  # type: ignore[union-attr]
                figures.append((label, int(rss), int(hwm), int(anon)))

            def publish(items: list[protocol.Item]) -> None:
                now = protocol.utc_now()
                body = protocol.TimelineBody(
                    target=f"zone:{zone}",
                    version=protocol.timeline_version(now),
                    horizon_until=now + timedelta(hours=48),
                    items=tuple(items),
                )
                payload = keys.sign("timeline", body, now=now, expires_at=now + timedelta(hours=48))
                topic = protocol.Topics(prefix).timeline_zone(zone)
                reports.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)

            try:
                read_rss()  # python
                if not reports.synced.wait(30):
                    print("agent never came online with a synchronised clock", file=sys.stderr)
                    return 1
                measure("started")
                now = protocol.utc_now()
                items = [
                    protocol.Item(
                        occurrence_id=f"occ-{k:02d}",
                        title="Cài đặt Bluezone",
                        play_at=now + timedelta(hours=1, minutes=10 * k),
                        media=medias[k % len(medias)],
                    )
                    for k in range(50)
                ]
                publish(items)
                if not reports.wait("fetched", 50, 60):
                    print("not every item was fetched within 60 s", file=sys.stderr)
                measure("timeline-50")
                soon = protocol.Item(
                    occurrence_id="occ-now",
                    title="Thử",
                    play_at=protocol.utc_now() + timedelta(seconds=4),
                    media=short,
                )
                publish([soon, *items])
                if not reports.wait("finished", 1, 30):
                    print("the file player did not finish within 30 s", file=sys.stderr)
                measure("played")
                proc.stdin.write("alsa\n")
                proc.stdin.flush()
                for _ in range(4):
                    read_rss()
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                reports.close()
        clear_retained(args.broker, prefix)

    print("agent RSS (VmRSS; VmHWM = peak so far), file player, this x86-64 machine:")
    base = figures[0][1]
    for label, rss, hwm, anon in figures:
        print(
            f"  {label:14s} {rss / 1024:6.1f} MB  (peak {hwm / 1024:6.1f} MB; private heap"
            f" {anon / 1024:5.1f} MB; {rss / base:.1f}x the bare interpreter)"
        )
    worst = max(hwm for label, _, hwm, _ in figures if label != "old-decode") / 1024
    print(
        f"peak (before old-decode) {worst:.1f} MB against the {TARGET_MB:.0f} MB target:",
        "met" if worst <= TARGET_MB else "MISSED",
    )
    print("import cost, each in a fresh interpreter (RSS growth, wall time):")
    for name, statement in IMPORTS.items():
        mb, secs = import_cost(statement)
        print(f"  {name:40s} +{mb:5.1f} MB  {secs * 1000:6.0f} ms")
    print(load_average())
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
