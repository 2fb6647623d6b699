"""Render speed with espeak-ng: cold render, cached re-render, raw synthesis as the baseline.

Prints realtime factors (seconds of audio per wall-clock second) for a ~60-second announcement
and the ratios against raw espeak-ng synthesis of the same sentences measured in the same run.
Targets (issue 2): cold >= 50x realtime and within 2x of raw synthesis; cached >= 1,000x.
Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import tempfile
import time
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


def best_of(n: int, fn: object) -> float:
    """Fastest wall time of `n` calls (the least disturbed by other processes)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    sentences = spoken_sentences(TEXT)
    engine = EspeakEngine()
    engine.synthesize("khởi động", voice="vi", speed=1.0)  # load the library outside the timing
    raw_audio = 0.0

    def raw() -> None:
        nonlocal raw_audio
        raw_audio = sum(engine.synthesize(s, voice="vi", speed=1.0).duration_s for s in sentences)

    raw_s = best_of(3, raw)
    raw_rtf = raw_audio / raw_s
    print(f"text: {len(TEXT)} chars, {len(sentences)} sentences, {raw_audio:.1f} s of raw speech")
    print(f"raw espeak-ng synthesis:   {raw_s * 1000:7.1f} ms  {raw_rtf:8.0f}x realtime (baseline)")

    for repeat in (1, 2):
        req = RenderRequest(text=TEXT, engine="espeak", repeat=repeat, intro_commune="Tân Tiến")
        colds, warm = [], []
        for _ in range(3):  # each cold render in fresh folders: nothing cached at all
            with tempfile.TemporaryDirectory() as d:
                r = Renderer(Path(d) / "media", Path(d) / "cache")
                t = time.perf_counter()
                rend = r.render(req)
                colds.append(time.perf_counter() - t)
                assert not rend.cache_hit
                warm.append(best_of(20, lambda r=r, req=req: r.render(req)))
        audio_s = rend.duration_ms / 1000
        cold, cached = min(colds), min(warm)
        print(
            f"\nrepeat={repeat}: rendition {audio_s:.1f} s (chime, intro, body x{repeat}, outro), "
            f"{rend.loudness_lufs:.1f} LUFS, {rend.true_peak_dbtp:.1f} dBTP, {rend.bytes:,} bytes"
        )
        print(
            f"  cold render:   {cold * 1000:7.1f} ms  {audio_s / cold:8.0f}x realtime  "
            f"(raw/cold realtime ratio {raw_rtf / (audio_s / cold):.2f}; target >= 50x, ratio <= 2)"
        )
        print(
            f"  cached render: {cached * 1000:7.2f} ms  {audio_s / cached:8.0f}x realtime  "
            f"(target >= 1,000x)"
        )


if __name__ == "__main__":
    main()
