"""Loudness per ITU-R BS.1770: integrated loudness, true peak, and normalisation with a limiter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from audio.errors import AudioError

Signal = npt.NDArray[np.float64]
#: A clip of a programme and the sample offsets where its copies start (silence elsewhere).
Placed = tuple[Signal, Sequence[int]]

#: BS.1770 true peak: 4× oversampling, as the recommendation's annex 2 describes.
OVERSAMPLE = 4
#: Limiter: gain changes ramp over this (the look-ahead), and are held this long before release.
ATTACK_S = 0.005
HOLD_S = 0.020
#: Aim this far under the ceiling so ripple after the limiter cannot cross it.
CEILING_MARGIN_DB = 0.1
#: Normalising tries at most this many gains to land within the tolerance after limiting.
MAX_GAIN_TRIES, GAIN_TOLERANCE_LU = 5, 0.1
#: Loudness gained per dB of gain once limiting bites, before two tries measure it (espeak-ng
#: speech at -16 LUFS: about 0.5).
FIRST_SLOPE = 0.5
#: BS.1770 gating: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU.
BLOCK_S, STEP = 0.4, 0.25
ABSOLUTE_GATE_LUFS, RELATIVE_GATE_LU = -70.0, -10.0
#: K-weighting rings on after a clip ends; this much of its tail is counted into the silence.
K_TAIL_S = 0.1


class Silent(AudioError):
    """Audio with nothing loud enough to measure (BS.1770 gates it all away)."""


def integrated_lufs(x: Signal, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4, gated); -inf for silence."""
    return programme_lufs([(x, (0,))], len(x), rate)


@lru_cache(maxsize=8)
def _k_weighting(rate: int) -> tuple[npt.NDArray[np.float64], float]:
    """K-weighting at `rate` as second-order sections, with pyloudnorm's own coefficients."""
    import pyloudnorm  # lazily: only rendering needs it, not the CLI's start

    stages = pyloudnorm.Meter(rate)._filters.values()  # high shelf, then high pass
    sos = np.array([[*(f.b / f.a[0]), *(f.a / f.a[0])] for f in stages], dtype=np.float64)
    return sos, math.prod(float(f.passband_gain) for f in stages)


def _k_energy(x: Signal, rate: int, tail: int) -> Signal:
    """Running sum (leading 0) of the squared K-weighted `x`, its ringing `tail` included."""
    from scipy.signal import sosfilt

    sos, gain = _k_weighting(rate)
    y = sosfilt(sos, np.concatenate([x, np.zeros(tail)]) if tail else x) * gain
    return np.concatenate([[0.0], np.cumsum(y * y)])


def programme_lufs(clips: Sequence[Placed], frames: int, rate: int) -> float:
    """Integrated loudness of `frames` samples holding `clips` at their offsets, silence elsewhere.

    Each distinct clip is K-weighted once, however often it repeats: a block's energy is the sum
    of the clips' energy inside it (read from running sums), so the programme is never built.
    Matches pyloudnorm's block layout; clips are assumed not to overlap (silence between them).
    """
    block = int(BLOCK_S * rate)
    frames = max(frames, block + 1)  # one gating block at least: short clips get silence
    count = round((frames / rate - BLOCK_S) / (BLOCK_S * STEP)) + 1
    j = np.arange(count)
    lower = (BLOCK_S * (j * STEP) * rate).astype(np.int64)
    upper = np.minimum((BLOCK_S * (j * STEP + 1) * rate).astype(np.int64), frames)
    energy = np.zeros(count)
    for x, offsets in clips:
        if not len(x):
            continue
        sums = _k_energy(x, rate, int(K_TAIL_S * rate))
        n = len(sums) - 1
        for at in offsets:
            end = min(n, frames - at)  # a tail past the programme's end is not in it
            energy += sums[np.clip(upper - at, 0, end)] - sums[np.clip(lower - at, 0, end)]
    return _gated(energy / block)


def _gated(z: Signal) -> float:
    """BS.1770 gated mean of block mean squares `z`, in LUFS (-inf when all is gated)."""
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10 * np.log10(z)
    loud = z[blocks >= ABSOLUTE_GATE_LUFS]
    if not len(loud):
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(loud.mean())) + RELATIVE_GATE_LU
    kept = z[(blocks > relative) & (blocks > ABSOLUTE_GATE_LUFS)]
    if not len(kept):
        return -math.inf
    return -0.691 + 10 * math.log10(float(kept.mean()))


@lru_cache(maxsize=1)
def _phases() -> Signal:
    """4x interpolation filter (48 taps, as in BS.1770 annex 2) split into its 4 phases."""
    from scipy.signal import firwin

    h = firwin(48, 1.0 / OVERSAMPLE) * OVERSAMPLE
    return np.asarray(h.reshape(-1, OVERSAMPLE).T[:, ::-1], dtype=np.float64)  # (4, 12)


def true_peak_envelope(x: Signal, floor: float = 0.0) -> Signal:
    """Per-sample true peak: max |value| of the 4x oversampled points around each sample.

    With a `floor`, oversampling runs only where |x| >= `floor` (a 12-tap gather per
    candidate): an inter-sample peak more than a few dB above both neighbours needs content
    near Nyquist, which speech and our chime do not have, so quiet stretches keep their sample
    peak. Without one, every sample is oversampled (four 12-tap correlations): exact, and the
    envelope of `g * x` is then `g` times it, so one envelope serves every gain tried.
    """
    env = np.abs(x)
    phases = _phases()
    taps = phases.shape[1]
    padded = np.concatenate([np.zeros(taps), x, np.zeros(taps)])
    if floor <= 0:
        start = taps // 2 + 1  # the same centring as the gather below
        for phase in phases:
            inter = np.correlate(padded, phase, "valid")[start : start + len(x)]
            np.maximum(env, np.abs(inter), out=env)
        return env
    idx = np.flatnonzero(env >= floor)
    if len(idx) == 0:
        return env
    # window of `taps` input samples centred on each candidate (half before, half after)
    window = padded[idx[:, None] + np.arange(taps)[None, :] + taps // 2 + 1]
    inter = np.abs(window @ phases.T).max(axis=1)
    env[idx] = np.maximum(env[idx], inter)
    return env


def true_peak_dbtp(x: Signal) -> float:
    """True peak in dBTP (4× oversampled)."""
    if not len(x):
        return -math.inf
    peak = float(np.max(true_peak_envelope(x, floor=float(np.max(np.abs(x))) / 2)))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def limit(x: Signal, rate: int, ceiling_dbtp: float, envelope: Signal | None = None) -> Signal:
    """Look-ahead brick-wall limiter on the true-peak envelope (`envelope`, if known, is x's).

    The needed gain is min-filtered over attack + hold then averaged over the attack: every
    averaged point is a mean of minima that each cover the sample, so the gain never exceeds
    what the sample needs, yet it moves smoothly (no clicks) and starts early (look-ahead).
    """
    ceiling = 10 ** ((ceiling_dbtp - CEILING_MARGIN_DB) / 20)
    env = true_peak_envelope(x, floor=ceiling / 2) if envelope is None else envelope
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if float(need.min()) >= 1.0:
        return x
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    attack = max(1, int(ATTACK_S * rate)) | 1
    hold = attack + 2 * int(HOLD_S * rate)
    gain = uniform_filter1d(
        minimum_filter1d(need, size=hold, mode="nearest"), attack, mode="nearest"
    )
    return np.asarray(x * np.minimum(gain, need.max()), dtype=np.float64)


def normalize(
    clips: Sequence[Placed], frames: int, rate: int, target_lufs: float, ceiling_dbtp: float
) -> list[Signal]:
    """Each clip gained so the programme is at `target_lufs`, limited to `ceiling_dbtp`.

    One gain for the whole programme (parts keep their balance); the limiter works per clip:
    it reaches only tens of milliseconds, and clips are separated by silence, so limiting a
    repeated clip once is limiting every copy. Raises Silent.
    """
    offsets = [at for _, at in clips]
    measured = programme_lufs(clips, frames, rate)
    if not math.isfinite(measured):
        raise Silent("the audio is silent: nothing to normalise")
    xs = [x for x, _ in clips]
    envelopes = [true_peak_envelope(x) for x in xs]
    # Limiting eats part of any gain (speech peaks high over its loudness), so the gain is
    # found by the secant method on (gain dB → loudness after limiting), from the unlimited
    # gain; each try limits the original clips afresh rather than re-limiting limited audio.
    tried: list[tuple[float, float]] = []
    gain_db = target_lufs - measured
    for _ in range(MAX_GAIN_TRIES):
        g = 10 ** (gain_db / 20)
        ys = [limit(x * g, rate, ceiling_dbtp, e * g) for x, e in zip(xs, envelopes, strict=True)]
        measured = programme_lufs(list(zip(ys, offsets, strict=True)), frames, rate)
        tried.append((gain_db, measured))
        if abs(measured - target_lufs) < GAIN_TOLERANCE_LU:
            break
        slope = FIRST_SLOPE
        if len(tried) > 1 and tried[-1][0] != tried[-2][0]:
            (g0, m0), (g1, m1) = tried[-2:]
            slope = min(1.0, max(0.2, (m1 - m0) / (g1 - g0)))
        gain_db += (target_lufs - measured) / slope
    over = max(true_peak_dbtp(y) for y in ys) - ceiling_dbtp
    if over > 0:  # edge effects of the filter at the very ends: a plain trim settles it
        ys = [y * 10 ** (-(over + CEILING_MARGIN_DB) / 20) for y in ys]
    return ys
