"""Render speed with espeak-ng: cold render, cached re-render, raw synthesis as the baseline.

Prints realtime factors (seconds of audio per second spent) for a ~60-second announcement, in
wall time and in CPU time of this process (`time.process_time()`: less disturbed by other
processes on a loaded machine), and the cold/raw ratio against raw espeak-ng synthesis of the
same sentences measured in the same run. Targets (issue 2): cold >= 50x realtime on one core
and within 2x of raw synthesis; cached >= 1,000x. PASS/MISS is judged on CPU time (one core's
work); wall figures are shown beside it. Each figure is the best of a few runs.
Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audio.render import Renderer, RenderRequest, spoken_sentences
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
        req = RenderRequest(text=TEXT, engine="espeak", repeat=repeat, intro_commune="Tân Tiến")
        colds, warms = [], []
        for _ in range(3):  # each cold render in fresh folders: nothing cached at all
            with tempfile.TemporaryDirectory() as d:
                r = Renderer(Path(d) / "media", Path(d) / "cache")
                rend = r.render(RenderRequest(text="khởi động", engine="espeak", repeat=1))
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
