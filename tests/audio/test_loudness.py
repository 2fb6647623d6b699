"""Our vectorised BS.1770 meter against pyloudnorm (the reference), and the per-clip limiter."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import butter, resample_poly, sosfilt

from audio import loudness
from audio.chime import make_chime
from audio.tts.espeak import EspeakEngine

RATE = 22_050


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise bursts of varying level with pauses: loud and quiet blocks for both gates."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE)) * 0.1
    syllables = np.repeat(rng.uniform(0.0, 1.0, len(x) // 2205 + 1) ** 3, 2205)[: len(x)]
    return x * syllables


def espeak_speech() -> np.ndarray:
    pcm = EspeakEngine().synthesize(
        "Bà con hãy cài đặt ứng dụng Bluezone trên điện thoại.", voice="vi", speed=1.0
    )
    assert pcm.rate == RATE
    return pcm.to_float()


SIGNALS = {
    "speechlike": lambda: speechlike(20.0, 1),
    "speechlike, quiet": lambda: speechlike(7.3, 2) * 0.01,
    "sine 1 kHz": lambda: 0.5 * np.sin(2 * np.pi * 1000 * np.arange(3 * RATE) / RATE),
    "chime": lambda: make_chime(RATE).to_float(),
    "espeak-ng": espeak_speech,
    "short (under one block)": lambda: speechlike(0.25, 3),
}


@pytest.mark.parametrize("name", SIGNALS)
def test_meter_agrees_with_pyloudnorm(name: str) -> None:
    x = SIGNALS[name]()
    ours = loudness.integrated_lufs(x, RATE)
    padded = np.concatenate([x, np.zeros(max(0, int(0.4 * RATE) + 1 - len(x)))])
    reference = pyloudnorm.Meter(RATE).integrated_loudness(padded)
    assert ours == pytest.approx(reference, abs=0.1)


def test_silence_measures_minus_infinity() -> None:
    assert loudness.integrated_lufs(np.zeros(RATE), RATE) == -math.inf
    assert loudness.integrated_lufs(np.full(RATE, 1e-6), RATE) == -math.inf  # under -70 LUFS


def test_placed_clips_measure_like_the_assembled_programme() -> None:
    chime, body = make_chime(RATE).to_float(), speechlike(12.0, 4)
    gap = int(1.5 * RATE)
    offsets = (len(chime) + gap, len(chime) + 2 * gap + len(body))
    frames = offsets[1] + len(body) + RATE // 2
    whole = np.zeros(frames)
    whole[: len(chime)] = chime
    for at in offsets:
        whole[at : at + len(body)] = body
    placed = loudness.programme_lufs([(chime, (0,)), (body, offsets)], frames, RATE)
    reference = pyloudnorm.Meter(RATE).integrated_loudness(whole)
    assert placed == pytest.approx(reference, abs=0.1)
    # and the body alone is not the answer: the chime counts
    assert abs(loudness.integrated_lufs(body, RATE) - reference) > 0.1


def test_normalize_reaches_target_under_the_ceiling_on_every_clip() -> None:
    # peaks well over the ceiling once gained; band-limited like speech (the limiter oversamples
    # only near its ceiling, which misses inter-sample peaks of full-band noise by design)
    body = sosfilt(butter(4, 5000, fs=RATE, output="sos"), speechlike(10.0, 5) * 3)
    chime = make_chime(RATE).to_float()
    offsets = (len(chime) + RATE, len(chime) + 3 * RATE + len(body))
    frames = offsets[1] + len(body)
    clips = [(chime, (0,)), (body, offsets)]
    ys = loudness.normalize(clips, frames, RATE, -16.0, -1.0)
    whole = np.zeros(frames)
    for y, (_, at) in zip(ys, clips, strict=True):
        for o in at:
            whole[o : o + len(y)] = y
    assert pyloudnorm.Meter(RATE).integrated_loudness(whole) == pytest.approx(-16.0, abs=0.5)
    assert 20 * math.log10(np.max(np.abs(resample_poly(whole, 4, 1)))) <= -1.0


@pytest.mark.parametrize("chunk", [1_000, 7_777, 1 << 16])
def test_streaming_meter_equals_the_whole_signal(chunk: int) -> None:
    x = sosfilt(butter(4, 5000, fs=RATE, output="sos"), speechlike(9.0, 6) * 3)
    meter = loudness.StreamMeter(len(x), RATE)
    for a in range(0, len(x), chunk):
        meter.add(x[a : a + chunk])
    lufs, peak = meter.result()
    assert lufs == pytest.approx(loudness.integrated_lufs(x, RATE), abs=1e-9)
    # true peak from chunks with carried neighbours = true peak of the whole, to the bit
    whole = float(np.max(loudness.true_peak_envelope(x)))
    assert peak == pytest.approx(20 * math.log10(whole), abs=1e-9)
    assert lufs == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.1)


def test_chunked_limiter_equals_limiting_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    x = sosfilt(butter(4, 5000, fs=RATE, output="sos"), speechlike(6.0, 7) * 8)
    whole = np.concatenate(list(loudness.limited(x, 1.0, RATE, -1.0)))  # one chunk: all of it
    monkeypatch.setattr(loudness, "CHUNK", 3_001)
    chunked = np.concatenate(list(loudness.limited(x, 1.0, RATE, -1.0)))
    assert len(chunked) == len(x) and np.max(np.abs(chunked - whole)) < 1e-12
    assert loudness.true_peak_dbtp(chunked) <= -1.0 + 1e-9
    assert loudness.true_peak_dbtp(x) > 0  # the limiter had work to do


def test_int16_clips_measure_like_floats() -> None:
    x = speechlike(5.0, 8)
    ints = np.round(x * 32768).astype(np.int16)
    assert loudness.integrated_lufs(x, RATE) == pytest.approx(
        loudness.programme_lufs([(ints, (0,))], len(ints), RATE), abs=1e-3
    )
