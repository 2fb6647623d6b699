"""Render speed and memory with espeak-ng, each beside a baseline measured in the same run.

Memory (issue 10): the maximum announcement (5,000 characters) at the maximum repeat (5)
rendered (a) through `RenderWorker`, as the server does, in a fresh process standing for the
server (it imports the server's app first), printing that process's peak RSS and the render
worker's; (b) in-process, as `pa-server say` does. The baseline is the ~60-s Bluezone text
at repeat 2, the same two ways. Each case runs in its own fresh interpreter, so every peak
is that case's alone. Target: <= 300 MB peak RSS for the maximum case.

Speed: prints realtime factors (seconds of audio per second spent) for a ~60-second announcement, in
wall time and in CPU time of this process (`time.process_time()`: less disturbed by other
processes on a loaded machine), and the cold/raw ratio against raw espeak-ng synthesis of the
same sentences measured in the same run. Targets (issue 2): cold >= 50x realtime on one core
and within 2x of raw synthesis; cached >= 1,000x. PASS/MISS is judged on CPU time (one core's
work); wall figures are shown beside it. Each figure is the best of a few runs.
Run: .venv/bin/python bench/render.py            (both parts)
     .venv/bin/python bench/render.py --only memory
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audio.options import RenderOptions
from audio.render import MAX_TEXT_CHARS, Renderer, RenderRequest, spoken_sentences
from audio.tts.espeak import EspeakEngine

TEXT = (
    "Thực hiện chỉ đạo của Ban Chỉ đạo phòng chống dịch, Ủy ban nhân dân xã đề nghị bà con "
    "cài đặt ứng dụng Bluezone trên điện thoại thông minh. Ứng dụng Bluezone giúp phát hiện "
    "người tiếp xúc gần với người nhiễm bệnh, để cơ quan y tế kịp thời khoanh vùng. "
    "Bà con khai báo y tế trực tuyến tại trang tờ khai y tế chấm vi en, hoặc trên ứng dụng "
    "en cô vi. Thực hiện nghiêm thông điệp năm kê của Bộ Y tế: khẩu trang, khử khuẩn, khoảng "
    "cách, không tụ tập, khai báo y tế. Cán bộ, đảng viên và gia đình gương mẫu thực hiện "
    "trước. Mọi thắc mắc xin liên hệ trạm y tế xã để được hướng dẫn. "
) * 2

MAX_RSS_MIB = 300.0
COMMUNE = "Tân Tiến"


def max_text() -> str:
    """The Bluezone sentences over and over, as long as an announcement may be (5,000 chars)."""
    sentences = [s.strip() for s in TEXT.split(". ") if s.strip()]
    out, i = "", 0
    while True:
        sentence = sentences[i % len(sentences)].rstrip(".") + ". "
        if len(out) + len(sentence) > MAX_TEXT_CHARS:
            return out.strip()
        out += sentence
        i += 1


CASES = {"baseline": (TEXT, 2), "maximum": (max_text(), 5)}


def _rss_now_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# VmHWM, not ru_maxrss: ru_maxrss survives exec on Linux, so a process forked from a big
# parent would report the parent's size as its own peak
from audio.worker import peak_rss_mib  # noqa: E402


def _cpu_s(who: int) -> float:
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def child(case: str, via: str) -> None:
    """One case in this fresh interpreter; prints one JSON line of figures."""
    text, repeat = CASES[case]
    opts = RenderOptions(engine="espeak", repeat=repeat, commune=COMMUNE)
    req = RenderRequest(text=text, options=opts)
    with tempfile.TemporaryDirectory() as d:
        if via == "worker":
            import pa_server.app  # noqa: F401  (the server process's own weight)
            from audio.worker import RendererConfig, RenderWorker

            with RenderWorker(RendererConfig(Path(d) / "m", Path(d) / "c"), max_pending=0) as w:
                # start the worker (spawn, imports) outside the timing, as a running server has
                w.render(RenderRequest(text="Khởi động.", options=RenderOptions(engine="espeak")))
                before, hwm_before = _rss_now_mib(), peak_rss_mib()
                start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
                r = w.render(req)
                wall = time.perf_counter() - start
                server_cpu = _cpu_s(resource.RUSAGE_SELF) - cpu
                server = peak_rss_mib()
                worker = w.worker_peak_rss_mib()
            render_cpu = _cpu_s(resource.RUSAGE_CHILDREN)  # includes the worker's start-up
        else:
            renderer = Renderer(Path(d) / "m", Path(d) / "c")
            before, hwm_before = _rss_now_mib(), peak_rss_mib()
            start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
            r = renderer.render(req)
            wall = time.perf_counter() - start
            render_cpu = server_cpu = _cpu_s(resource.RUSAGE_SELF) - cpu
            server = worker = peak_rss_mib()
        print(json.dumps({"case": case, "via": via, "chars": len(text), "repeat": repeat,
                          "wall_s": wall, "cpu_s": render_cpu, "server_cpu_s": server_cpu,
                          "before_mib": before, "hwm_before_mib": hwm_before,
                          "server_mib": server, "worker_mib": worker,
                          "audio_s": r.duration_ms / 1000, "lufs": r.loudness_lufs,
                          "dbtp": r.true_peak_dbtp, "bytes": r.bytes}))  # fmt: skip


def memory() -> None:
    """Each case × path in its own interpreter; print time and peak RSS side by side."""
    print(
        f"time and peak RSS (VmHWM) per render, each in a fresh interpreter; "
        f"target <= {MAX_RSS_MIB:.0f} MB"
    )
    rows = []
    for case in CASES:
        for via in ("worker", "inprocess"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", case, via],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for r in rows:
        print(
            f"{r['case']:8} {r['chars']:5} chars x{r['repeat']} -> {r['audio_s']:7.1f} s audio, "
            f"{r['bytes']:>10,} B, {r['lufs']:.2f} LUFS, {r['dbtp']:.2f} dBTP"
        )
        if r["via"] == "worker":
            print(
                f"    via RenderWorker (server): {r['wall_s']:5.1f} s wall; server process "
                f"{r['server_cpu_s']:.2f} s CPU, RSS {r['before_mib']:.1f} MB, peak "
                f"{r['hwm_before_mib']:.1f} MB before the render (its imports) -> "
                f"{r['server_mib']:.1f} MB after; render worker {r['cpu_s']:.1f} s CPU (with "
                f"its start-up), peak {r['worker_mib']:.1f} MB"
            )
        else:
            print(
                f"    in-process (pa-server say): {r['wall_s']:5.1f} s wall, {r['cpu_s']:.1f} s "
                f"CPU; RSS {r['before_mib']:.1f} MB before -> peak {r['server_mib']:.1f} MB"
            )
    big = [r for r in rows if r["case"] == "maximum"]
    worst = max(max(r["server_mib"], r["worker_mib"]) for r in big)
    print(f"maximum case, worst peak RSS of any process: {worst:.1f} MB "
          f"(target <= {MAX_RSS_MIB:.0f}: {verdict(worst <= MAX_RSS_MIB)})")  # fmt: skip


COLD_MIN_RTF = 50.0
COLD_MAX_RATIO = 2.0
CACHED_MIN_RTF = 1_000.0


@dataclass(frozen=True)
class Timing:
    """Best wall and best CPU seconds over several runs (each best on its own)."""

    wall_s: float
    cpu_s: float


def timed(fn: Callable[[], object]) -> Timing:
    """Wall and CPU seconds of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return Timing(time.perf_counter() - w, time.process_time() - c)


def best(timings: list[Timing]) -> Timing:
    """The least disturbed of several runs."""
    return Timing(min(t.wall_s for t in timings), min(t.cpu_s for t in timings))


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["memory", "speed"])
    parser.add_argument("--child", nargs=2, metavar=("CASE", "VIA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.only != "speed":
        memory()
    if args.only != "memory":
        print()
        speed()


def speed() -> None:
    """Cold and cached renders of the ~60-s text against raw espeak-ng synthesis."""
    sentences = spoken_sentences(TEXT)
    engine = EspeakEngine()
    engine.synthesize("khởi động", voice="vi", speed=1.0)  # load the library outside the timing
    raw_audio = sum(engine.synthesize(s, voice="vi", speed=1.0).duration_s for s in sentences)

    def raw() -> None:
        for s in sentences:
            engine.synthesize(s, voice="vi", speed=1.0)

    raw_t = best([timed(raw) for _ in range(5)])
    raw_wall, raw_cpu = raw_audio / raw_t.wall_s, raw_audio / raw_t.cpu_s
    print(f"text: {len(TEXT)} chars, {len(sentences)} sentences, {raw_audio:.1f} s of raw speech")
    print(
        f"raw espeak-ng synthesis: wall {raw_t.wall_s * 1000:7.1f} ms {raw_wall:6.0f}x | "
        f"CPU {raw_t.cpu_s * 1000:7.1f} ms {raw_cpu:6.0f}x realtime (baseline)"
    )

    for repeat in (1, 2):
        opts = RenderOptions(engine="espeak", repeat=repeat, commune=COMMUNE)
        req = RenderRequest(text=TEXT, options=opts)
        colds, warms = [], []
        for _ in range(3):  # each cold render in fresh folders: nothing cached at all
            with tempfile.TemporaryDirectory() as d:
                r = Renderer(Path(d) / "media", Path(d) / "cache")
                warm = RenderOptions(engine="espeak", repeat=1)
                rend = r.render(RenderRequest(text="khởi động", options=warm))
                colds.append(timed(lambda r=r, req=req: r.render(req)))
                rend = r.render(req)
                assert rend.cache_hit
                warms += [timed(lambda r=r, req=req: r.render(req)) for _ in range(20)]
        audio_s = rend.duration_ms / 1000
        cold, warm = best(colds), best(warms)
        cold_wall, cold_cpu = audio_s / cold.wall_s, audio_s / cold.cpu_s
        ratio_wall, ratio_cpu = raw_wall / cold_wall, raw_cpu / cold_cpu
        warm_wall, warm_cpu = audio_s / warm.wall_s, audio_s / warm.cpu_s
        print(
            f"\nrepeat={repeat}: rendition {audio_s:.1f} s (chime, intro, body x{repeat}, outro), "
            f"{rend.loudness_lufs:.1f} LUFS, {rend.true_peak_dbtp:.1f} dBTP, {rend.bytes:,} bytes"
        )
        print(
            f"  cold render:   wall {cold.wall_s * 1000:7.1f} ms {cold_wall:6.0f}x | "
            f"CPU {cold.cpu_s * 1000:7.1f} ms {cold_cpu:6.0f}x realtime  "
            f"(target >= {COLD_MIN_RTF:.0f}x: {verdict(cold_cpu >= COLD_MIN_RTF)})"
        )
        print(
            f"  cold/raw:      wall {ratio_wall:6.2f}          | CPU {ratio_cpu:6.2f}"
            f"                      (target <= {COLD_MAX_RATIO:g}: "
            f"{verdict(ratio_cpu <= COLD_MAX_RATIO)})"
        )
        print(
            f"  cached render: wall {warm.wall_s * 1000:7.2f} ms {warm_wall:6.0f}x | "
            f"CPU {warm.cpu_s * 1000:7.2f} ms {warm_cpu:6.0f}x realtime  "
            f"(target >= {CACHED_MIN_RTF:,.0f}x: {verdict(warm_cpu >= CACHED_MIN_RTF)})"
        )


if __name__ == "__main__":
    main()
