"""Loudness per ITU-R BS.1770: integrated loudness, true peak, and normalisation with a limiter."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyloudnorm
from scipy.ndimage import minimum_filter1d
from scipy.signal import firwin

from audio.errors import AudioError

Signal = npt.NDArray[np.float64]

#: BS.1770 true peak: 4× oversampling, as the recommendation's annex 2 describes.
OVERSAMPLE = 4
#: Limiter: gain changes ramp over this (the look-ahead), and are held this long before release.
ATTACK_S = 0.005
HOLD_S = 0.020
#: Aim this far under the ceiling so ripple after the limiter cannot cross it.
CEILING_MARGIN_DB = 0.1


class Silent(AudioError):
    """Audio with nothing loud enough to measure (BS.1770 gates it all away)."""


def integrated_lufs(x: Signal, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4, gated); -inf for silence."""
    if len(x) < int(0.4 * rate):  # one gating block; pad short clips with silence
        x = np.concatenate([x, np.zeros(int(0.4 * rate) - len(x) + 1)])
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


@lru_cache(maxsize=1)
def _phases() -> Signal:
    """4x interpolation filter (48 taps, as in BS.1770 annex 2) split into its 4 phases."""
    h = firwin(48, 1.0 / OVERSAMPLE) * OVERSAMPLE
    return np.asarray(h.reshape(-1, OVERSAMPLE).T[:, ::-1], dtype=np.float64)  # (4, 12)


def true_peak_envelope(x: Signal, floor: float = 0.0) -> Signal:
    """Per-sample true peak: max |value| of the 4x oversampled points around each sample.

    Oversampling runs only where |x| >= `floor` (a 12-tap gather per candidate): an
    inter-sample peak more than a few dB above both neighbours needs content near Nyquist,
    which speech and our chime do not have, so quiet stretches keep their sample peak.
    """
    env = np.abs(x)
    idx = np.flatnonzero(env >= floor) if floor > 0 else np.arange(len(x))
    if len(idx) == 0:
        return env
    phases = _phases()
    taps = phases.shape[1]
    padded = np.concatenate([np.zeros(taps), x, np.zeros(taps)])
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


def limit(x: Signal, rate: int, ceiling_dbtp: float) -> Signal:
    """Look-ahead brick-wall limiter on the true-peak envelope.

    The needed gain is min-filtered over attack + hold then averaged over the attack: every
    averaged point is a mean of minima that each cover the sample, so the gain never exceeds
    what the sample needs, yet it moves smoothly (no clicks) and starts early (look-ahead).
    """
    ceiling = 10 ** ((ceiling_dbtp - CEILING_MARGIN_DB) / 20)
    env = true_peak_envelope(x, floor=ceiling / 2)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if float(need.min()) >= 1.0:
        return x
    attack = max(1, int(ATTACK_S * rate)) | 1
    hold = attack + 2 * int(HOLD_S * rate)
    gain = _moving_average(minimum_filter1d(need, size=hold, mode="nearest"), attack)
    return np.asarray(x * np.minimum(gain, need.max()), dtype=np.float64)


def _moving_average(x: Signal, size: int) -> Signal:
    """Centred moving average of odd `size`, edges extended (a cumulative-sum difference)."""
    half = size // 2
    padded = np.concatenate([np.full(half + 1, x[0]), x, np.full(half, x[-1])])
    sums = np.cumsum(padded)
    return np.asarray((sums[size:] - sums[:-size]) / size, dtype=np.float64)


def normalize(x: Signal, rate: int, target_lufs: float, ceiling_dbtp: float) -> Signal:
    """Gain to `target_lufs` integrated, limited to `ceiling_dbtp` true peak (raises Silent)."""
    measured = integrated_lufs(x, rate)
    if not math.isfinite(measured):
        raise Silent("the audio is silent: nothing to normalise")
    y = x
    for _ in range(2):  # limiting lowers loudness a little: top up and limit once more
        y = limit(y * 10 ** ((target_lufs - measured) / 20), rate, ceiling_dbtp)
        measured = integrated_lufs(y, rate)
        if abs(measured - target_lufs) < 0.3:
            break
    over = true_peak_dbtp(y) - ceiling_dbtp
    if over > 0:  # edge effects of the filter at the very ends: a plain trim settles it
        y = y * 10 ** (-(over + CEILING_MARGIN_DB) / 20)
    return y
