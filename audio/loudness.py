"""Loudness per ITU-R BS.1770: integrated loudness, true peak, and normalisation with a limiter.

Everything works on bounded chunks: K-weighting keeps its filter state from chunk to chunk and
adds each chunk's energy into 100 ms hops (a 400 ms gating block is four hops), true peak and
the limiter look at each chunk with a margin of its neighbours. So a 30-minute broadcast is
measured and limited in the memory of a few seconds of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from audio.errors import AudioError

Signal = npt.NDArray[np.float64]
Samples16 = npt.NDArray[np.int16]
#: A clip (floats in [-1, 1], or int16 samples) and the offsets where its copies start.
Placed = tuple[npt.NDArray[np.float64] | npt.NDArray[np.int16], Sequence[int]]

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
#: Samples processed at a time (about 3 s at 22,050 Hz): a few float arrays of this stay small.
CHUNK = 1 << 16


class Silent(AudioError):
    """Audio with nothing loud enough to measure (BS.1770 gates it all away)."""


def _floats(x: npt.NDArray[np.float64] | npt.NDArray[np.int16]) -> Signal:
    """Samples as floats in [-1, 1): int16 scaled, floats as they are."""
    if x.dtype == np.int16:
        return x.astype(np.float64) / 32768.0
    return np.asarray(x, dtype=np.float64)


def _chunks(x: npt.NDArray[np.float64] | npt.NDArray[np.int16]) -> Iterator[Signal]:
    for a in range(0, len(x), CHUNK):
        yield _floats(x[a : a + CHUNK])


@lru_cache(maxsize=8)
def _k_weighting(rate: int) -> tuple[npt.NDArray[np.float64], float]:
    """K-weighting at `rate` as second-order sections, with pyloudnorm's own coefficients."""
    import pyloudnorm  # lazily: only rendering needs it, not the CLI's start

    stages = pyloudnorm.Meter(rate)._filters.values()  # high shelf, then high pass
    sos = np.array([[*(f.b / f.a[0]), *(f.a / f.a[0])] for f in stages], dtype=np.float64)
    return sos, math.prod(float(f.passband_gain) for f in stages)


class _KFilter:
    """K-weighting that carries its state across the chunks of one signal."""

    def __init__(self, rate: int) -> None:
        self.sos, self.gain = _k_weighting(rate)
        self.state = np.zeros((self.sos.shape[0], 2))

    def __call__(self, x: Signal) -> Signal:
        from scipy.signal import sosfilt

        y, self.state = sosfilt(self.sos, x, zi=self.state)
        return np.asarray(y, dtype=np.float64) * self.gain


class HopEnergies:
    """Energy of the K-weighted programme per 100 ms hop; gating blocks are four hops."""

    def __init__(self, frames: int, rate: int) -> None:
        self.rate = rate
        self.block = int(BLOCK_S * rate)
        self.hop = round(BLOCK_S * STEP * rate)
        self.frames = max(frames, self.block + 1)  # one gating block at least
        self.energy = np.zeros(self.frames // self.hop + 2)

    def add(self, squares: Signal, starts: Iterable[int]) -> None:
        """Add `squares` (K-weighted samples squared) at each programme position in `starts`."""
        if not len(squares):
            return
        sums = np.concatenate([[0.0], np.cumsum(squares)])
        for start in starts:
            end = min(start + len(squares), self.frames)  # what rings past the end is not in it
            if end <= start:
                continue
            k0, k1 = start // self.hop, (end - 1) // self.hop
            bounds = np.clip(np.arange(k0, k1 + 2) * self.hop - start, 0, end - start)
            self.energy[k0 : k1 + 1] += sums[bounds[1:]] - sums[bounds[:-1]]

    def lufs(self) -> float:
        """Gated integrated loudness of what was added, in LUFS (-inf when all is gated)."""
        count = round((self.frames / self.rate - BLOCK_S) / (BLOCK_S * STEP)) + 1
        per = self.block // self.hop
        blocks = sum(self.energy[i : i + count] for i in range(per))
        return _gated(np.asarray(blocks, dtype=np.float64) / self.block)


def _add_clip(acc: HopEnergies, chunks: Iterable[Signal], offsets: Sequence[int]) -> None:
    """K-weight one clip chunk by chunk (its ringing tail included) into `acc` at `offsets`."""
    kf = _KFilter(acc.rate)
    pos = 0
    for x in chunks:
        y = kf(x)
        acc.add(y * y, [at + pos for at in offsets])
        pos += len(x)
    if pos:
        y = kf(np.zeros(int(K_TAIL_S * acc.rate)))
        acc.add(y * y, [at + pos for at in offsets])


def integrated_lufs(x: Signal, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4, gated); -inf for silence."""
    return programme_lufs([(x, (0,))], len(x), rate)


def programme_lufs(clips: Sequence[Placed], frames: int, rate: int) -> float:
    """Integrated loudness of `frames` samples holding `clips` at their offsets, silence elsewhere.

    Each distinct clip is K-weighted once, however often it repeats, and the programme is never
    built. Clips are assumed not to overlap (silence between them).
    """
    acc = HopEnergies(frames, rate)
    for x, offsets in clips:
        _add_clip(acc, _chunks(x), offsets)
    return acc.lufs()


class StreamMeter:
    """Integrated loudness and true peak of one signal handed over in consecutive chunks."""

    def __init__(self, frames: int, rate: int) -> None:
        self.acc = HopEnergies(frames, rate)
        self.kf = _KFilter(rate)
        self.peak = TruePeak()
        self.pos = 0

    def add(self, x: Signal) -> None:
        """The next chunk of the signal."""
        y = self.kf(x)
        self.acc.add(y * y, [self.pos])
        self.peak.add(x)
        self.pos += len(x)

    def result(self) -> tuple[float, float]:
        """(integrated LUFS, true peak dBTP) of everything added."""
        return self.acc.lufs(), self.peak.dbtp()


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


#: Input samples each true-peak point depends on (the interpolation filter's span per phase).
TAPS = 12


def true_peak_envelope(x: Signal, floor: float = 0.0) -> Signal:
    """Per-sample true peak: max |value| of the 4x oversampled points around each sample.

    With a `floor`, oversampling runs only where |x| >= `floor` (a 12-tap gather per
    candidate): an inter-sample peak more than a few dB above both neighbours needs content
    near Nyquist, which speech and our chime do not have, so quiet stretches keep their sample
    peak. Without one, every sample is oversampled (four 12-tap correlations).
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


class TruePeak:
    """True peak of a signal handed over in consecutive chunks (neighbours carried over)."""

    def __init__(self) -> None:
        self.carry = np.zeros(0)
        self.context = 0  # leading samples of `carry` already scanned (kept as neighbours)
        self.peak = 0.0

    def _scan(self, buf: Signal, lo: int, hi: int) -> None:
        if hi > lo:
            env = true_peak_envelope(buf, floor=float(np.max(np.abs(buf))) / 2)
            self.peak = max(self.peak, float(np.max(env[lo:hi])))

    def add(self, x: Signal) -> None:
        """The next chunk; its last TAPS samples wait for the next chunk's neighbours."""
        buf = np.concatenate([self.carry, x])
        done = max(self.context, len(buf) - TAPS)
        self._scan(buf, self.context, done)
        keep = max(0, len(buf) - 2 * TAPS)
        self.carry, self.context = buf[keep:], done - keep

    def dbtp(self) -> float:
        """The true peak in dBTP of everything added (-inf for silence)."""
        self._scan(self.carry, self.context, len(self.carry))
        self.carry, self.context = np.zeros(0), 0
        return 20 * math.log10(self.peak) if self.peak > 0 else -math.inf


def true_peak_dbtp(x: npt.NDArray[np.float64] | npt.NDArray[np.int16]) -> float:
    """True peak in dBTP (4× oversampled)."""
    meter = TruePeak()
    for chunk in _chunks(x):
        meter.add(chunk)
    return meter.dbtp()


def limited(
    x: npt.NDArray[np.float64] | npt.NDArray[np.int16], gain: float, rate: int, ceiling_dbtp: float
) -> Iterator[Signal]:
    """`x * gain` through a look-ahead brick-wall limiter on its true peak, chunk by chunk.

    The needed gain is min-filtered over attack + hold then averaged over the attack: every
    averaged point is a mean of minima that each cover the sample, so the gain never exceeds
    what the sample needs, yet it moves smoothly (no clicks) and starts early (look-ahead).
    Each chunk is worked on with a margin of its neighbours wider than the filters reach, so
    the chunks join exactly as if the clip had been limited whole.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** ((ceiling_dbtp - CEILING_MARGIN_DB) / 20)
    attack = max(1, int(ATTACK_S * rate)) | 1
    hold = attack + 2 * int(HOLD_S * rate)
    margin = hold // 2 + attack // 2 + 2 * TAPS
    n = len(x)
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        lo, hi = max(0, a - margin), min(n, b + margin)
        seg = _floats(x[lo:hi]) * gain
        need = np.minimum(1.0, ceiling / np.maximum(true_peak_envelope(seg, ceiling / 2), 1e-12))
        if float(need.min()) < 1.0:
            smooth = uniform_filter1d(
                minimum_filter1d(need, size=hold, mode="nearest"), attack, mode="nearest"
            )
            seg = seg * np.minimum(smooth, need)
        yield seg[a - lo : b - lo]


def _loudness_after(
    clips: Sequence[Placed], frames: int, rate: int, gain: float, ceiling_dbtp: float
) -> float:
    acc = HopEnergies(frames, rate)
    for x, offsets in clips:
        _add_clip(acc, limited(x, gain, rate, ceiling_dbtp), offsets)
    return acc.lufs()


def solve_gain(
    clips: Sequence[Placed], frames: int, rate: int, target_lufs: float, ceiling_dbtp: float
) -> float:
    """The one gain that brings the limited programme to `target_lufs`. Raises Silent.

    Limiting eats part of any gain (speech peaks high over its loudness), so the gain is found
    by the secant method on (gain dB → loudness after limiting), from the unlimited gain; each
    try limits the original clips afresh, chunk by chunk, keeping only hop energies.
    """
    measured = programme_lufs(clips, frames, rate)
    if not math.isfinite(measured):
        raise Silent("the audio is silent: nothing to normalise")
    tried: list[tuple[float, float]] = []
    gain_db = target_lufs - measured
    for _ in range(MAX_GAIN_TRIES):
        measured = _loudness_after(clips, frames, rate, 10 ** (gain_db / 20), ceiling_dbtp)
        tried.append((gain_db, measured))
        if abs(measured - target_lufs) < GAIN_TOLERANCE_LU:
            break
        slope = FIRST_SLOPE
        if len(tried) > 1 and tried[-1][0] != tried[-2][0]:
            (g0, m0), (g1, m1) = tried[-2:]
            slope = min(1.0, max(0.2, (m1 - m0) / (g1 - g0)))
        gain_db += (target_lufs - measured) / slope
    return float(10 ** (gain_db / 20))


def to_int16(chunks: Iterable[Signal], frames: int) -> npt.NDArray[np.int16]:
    """Float chunks as one int16 array (rounded, clipped) without a float copy of the whole."""
    out = np.empty(frames, dtype=np.int16)
    at = 0
    for c in chunks:
        out[at : at + len(c)] = np.clip(np.round(c * 32768.0), -32768, 32767)
        at += len(c)
    return out


def normalize_int16(
    clips: Sequence[tuple[npt.NDArray[np.int16], Sequence[int]]],
    frames: int,
    rate: int,
    target_lufs: float,
    ceiling_dbtp: float,
) -> list[npt.NDArray[np.int16]]:
    """Each clip gained so the programme is at `target_lufs`, limited to `ceiling_dbtp`, int16.

    One gain for the whole programme (parts keep their balance); the limiter works per clip:
    it reaches only tens of milliseconds, and clips are separated by silence, so limiting a
    repeated clip once is limiting every copy. Raises Silent.
    """
    placed: list[Placed] = list(clips)
    gain = solve_gain(placed, frames, rate, target_lufs, ceiling_dbtp)
    ys = [to_int16(limited(x, gain, rate, ceiling_dbtp), len(x)) for x, _ in clips]
    over = max((true_peak_dbtp(y) for y in ys if len(y)), default=-math.inf) - ceiling_dbtp
    if over > 0:  # edge effects of the filter at the very ends: a plain trim settles it
        trim = 10 ** (-(over + CEILING_MARGIN_DB) / 20)
        ys = [to_int16((c * trim for c in _chunks(y)), len(y)) for y in ys]
    return ys


def normalize(
    clips: Sequence[Placed], frames: int, rate: int, target_lufs: float, ceiling_dbtp: float
) -> list[Signal]:
    """`normalize_int16` for float clips, returning floats (for tests and short signals)."""
    ints = [(np.round(np.clip(_floats(x), -1, 1 - 2**-15) * 32768).astype(np.int16), at)
            for x, at in clips]  # fmt: skip
    return [_floats(y) for y in normalize_int16(ints, frames, rate, target_lufs, ceiling_dbtp)]
