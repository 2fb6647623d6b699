"""Render every unseen announcement (tests/announcements/data/unseen-announcements.toml) with
espeak-ng and measure what a resident would hear: duration, the longest silence inside it (a
gap over 1.5 s sounds like the end), clipped samples, true peak and loudness.

Each is rendered alone (repeat 1, no chime, intro or outro: those add fixed, designed pauses),
then decoded from the MP3 the loudspeaker would get. Prints one row per announcement and a
summary; exits 1 when any gap exceeds 1.5 s or any sample clips.
Run: .venv/bin/python bench/speech_unseen.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import tomllib
import unicodedata
from pathlib import Path

import numpy as np

from audio.checks import clipped_samples, longest_inner_silence_s
from audio.decode import decode_audio
from audio.options import RenderOptions
from audio.render import Renderer, RenderRequest
from audio.tts.espeak import EspeakEngine

DATA = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "announcements"
    / "data"
    / "unseen-announcements.toml"
)
MAX_GAP_S = 1.5


def main() -> int:
    items = tomllib.loads(DATA.read_text(encoding="utf-8"))["announcement"]
    options = RenderOptions(engine="espeak", repeat=1, chime=False, intro=False, outro=False)
    bad = 0
    durations: list[float] = []
    gaps: list[float] = []
    per_word: list[float] = []
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        renderer = Renderer(
            Path(tmp) / "media", Path(tmp) / "cache", engines={"espeak": EspeakEngine()}
        )
        print(" #  kind      seconds  gap s  clipped  dBTP    LUFS    s/word")
        for i, item in enumerate(items):
            text = item["text"]
            if item.get("form") == "NFD":
                text = unicodedata.normalize("NFD", text)
            rendition = renderer.render(RenderRequest(text=text, options=options))
            pcm = decode_audio(rendition.path.read_bytes())
            samples = np.frombuffer(pcm.samples, dtype="<i2")
            seconds = len(samples) / pcm.rate
            gap = longest_inner_silence_s(samples, pcm.rate)
            clipped = clipped_samples(samples)
            words = len(rendition.spoken_text.split())
            durations.append(seconds)
            gaps.append(gap)
            per_word.append(seconds / words)
            flag = "" if gap <= MAX_GAP_S and clipped == 0 else "  <-- FAIL"
            bad += bool(flag)
            print(
                f"{i:2d}  {item['kind']:8s} {seconds:7.1f}  {gap:5.2f}  {clipped:7d}  "
                f"{rendition.true_peak_dbtp:5.2f}  {rendition.loudness_lufs:6.2f}  "
                f"{seconds / words:6.3f}{flag}"
            )
    print(
        f"\n{len(items)} announcements, {sum(durations):.1f} s of speech "
        f"(shortest {min(durations):.1f} s, longest {max(durations):.1f} s); "
        f"longest inner silence {max(gaps):.2f} s (limit {MAX_GAP_S} s); "
        f"{bad} failing; {min(per_word):.3f}-{max(per_word):.3f} s per word; "
        f"CPU {time.process_time() - cpu:.1f} s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
