"""Composition: chime, intro, the body repeated with pauses, outro, as clips placed on a timeline.

Nothing here builds the whole broadcast: a `Programme` is its distinct clips (int16 at the
output rate) and the offsets where copies of them start, silence elsewhere. Mastering and
encoding walk it chunk by chunk (`Programme.chunks`), so memory follows the longest clip,
not the length of the broadcast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np
import numpy.typing as npt

from audio.pcm import OUTPUT_RATE, Pcm

Samples = npt.NDArray[np.int16]

#: Below this a TTS piece's edge counts as silence and is trimmed, so our pauses are the pauses.
SILENCE_DBFS = -50.0
#: Trimming looks at the edges in steps of this (pydub's `detect_leading_silence` default).
TRIM_STEP_S = 0.01
#: Samples handed on at a time when a programme is walked (about 6 s at 22,050 Hz).
CHUNK = 1 << 17


@dataclass(frozen=True)
class Layout:
    """Fixed pauses and fades of a broadcast, in seconds (the chosen ones are RenderOptions)."""

    lead_s: float = 0.3
    after_chime_s: float = 0.6
    after_intro_s: float = 0.8
    before_outro_s: float = 1.2
    tail_s: float = 0.5
    fade_s: float = 0.012
    recording_fade_s: float = 0.02


@dataclass(frozen=True)
class Piece:
    """One prepared clip of speech and the silence after it (ignored after a part's last)."""

    samples: Samples
    pause_after_s: float


@dataclass(frozen=True)
class Programme:
    """The composed broadcast as its distinct clips and where they sit, silence elsewhere.

    A body repeated N times is the same clips placed N times: loudness work runs on each clip
    once. `parts` names every span (seconds), silences included, for metadata and tests.
    """

    clips: tuple[Samples, ...]
    offsets: tuple[tuple[int, ...], ...]
    frames: int
    parts: tuple[tuple[str, float, float], ...]

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / OUTPUT_RATE

    def chunks(self, clips: Sequence[Samples] | None = None) -> Iterator[Samples]:
        """The broadcast, `CHUNK` samples at a time, with `clips` (processed `self.clips`)."""
        use = self.clips if clips is None else clips
        placed = sorted(
            (at, i) for i, offsets in enumerate(self.offsets) for at in offsets if len(use[i])
        )
        first = 0  # placements before this one end before the current chunk
        for start in range(0, self.frames, CHUNK):
            end = min(self.frames, start + CHUNK)
            out = np.zeros(end - start, dtype=np.int16)
            for k in range(first, len(placed)):
                at, i = placed[k]
                if at >= end:
                    break
                clip = use[i]
                if at + len(clip) <= start:
                    if k == first:
                        first += 1
                    continue
                a, b = max(start, at), min(end, at + len(clip))
                out[a - start : b - start] = clip[a - at : b - at]
            yield out


def to_output_rate(pcm: Pcm) -> Samples:
    """`pcm`'s samples at OUTPUT_RATE (polyphase resampling when the engine's rate differs)."""
    x = np.frombuffer(pcm.samples, dtype="<i2")
    if pcm.rate == OUTPUT_RATE or not len(x):
        return np.asarray(x, dtype=np.int16)
    from scipy.signal import resample_poly  # lazily: only gTTS-at-24-kHz-like voices need it

    g = gcd(OUTPUT_RATE, pcm.rate)
    y = np.asarray(resample_poly(x.astype(np.float64), OUTPUT_RATE // g, pcm.rate // g))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _fade(x: Samples, fade_s: float) -> Samples:
    n = min(round(fade_s * OUTPUT_RATE), len(x) // 2)
    if n <= 0:
        return x
    y = x.astype(np.float64)
    ramp = np.arange(n) / n
    y[:n] *= ramp
    y[len(y) - n :] *= ramp[::-1]
    return np.round(y).astype(np.int16)


def trim(x: Samples) -> Samples:
    """`x` without leading and trailing stretches quieter than SILENCE_DBFS (RMS per 10 ms)."""
    step = round(TRIM_STEP_S * OUTPUT_RATE)
    n = len(x) // step
    if n == 0:
        return x
    blocks = x[: n * step].astype(np.float64).reshape(n, step)
    rms = np.sqrt((blocks * blocks).mean(axis=1))
    loud = np.flatnonzero(rms >= 32768 * 10 ** (SILENCE_DBFS / 20))
    if not len(loud):
        return x  # all quiet: keep it as it is rather than lose it
    end = (loud[-1] + 1) * step if loud[-1] < n - 1 else len(x)
    return x[loud[0] * step : end]


def speech_piece(pcm: Pcm, pause_after_s: float, layout: Layout) -> Piece:
    """A spoken unit at the output rate, trimmed of edge silence, faded in and out."""
    return Piece(_fade(trim(to_output_rate(pcm)), layout.fade_s), pause_after_s)


def recording_piece(pcm: Pcm, layout: Layout) -> Piece:
    """An operator's recording as the body: at the output rate, with short fades, untrimmed."""
    return Piece(_fade(to_output_rate(pcm), layout.recording_fade_s), 0.0)


def _frames(seconds: float) -> int:
    return round(seconds * OUTPUT_RATE)


def compose(
    *,
    chime: Pcm | None,
    intro: Sequence[Piece],
    body: Sequence[Piece],
    repeat: int,
    repeat_pause_s: float,
    outro: Sequence[Piece],
    layout: Layout = Layout(),
) -> Programme:
    """Lay out the broadcast: [chime] [intro] body × repeat (pauses between) [outro]."""
    clips: list[Samples] = []
    offsets: list[list[int]] = []
    spans: list[tuple[str, float, float]] = []
    at = 0

    def silence(name: str, seconds: float) -> None:
        nonlocal at
        n = _frames(seconds)
        spans.append((name, at / OUTPUT_RATE, (at + n) / OUTPUT_RATE))
        at += n

    def place(name: str, pieces: Sequence[Piece], ids: list[int]) -> None:
        # pieces already placed once (a repeated body) reuse their clip: placed, not copied
        nonlocal at
        start = at
        for k, piece in enumerate(pieces):
            if k:
                at += _frames(pieces[k - 1].pause_after_s)
            if len(ids) <= k:
                ids.append(len(clips))
                clips.append(piece.samples)
                offsets.append([])
            offsets[ids[k]].append(at)
            at += len(piece.samples)
        spans.append((name, start / OUTPUT_RATE, at / OUTPUT_RATE))

    silence("lead", layout.lead_s)
    if chime is not None:
        place("chime", [Piece(to_output_rate(chime), 0.0)], [])
        silence("pause", layout.after_chime_s)
    if intro:
        place("intro", intro, [])
        silence("pause", layout.after_intro_s)
    body_ids: list[int] = []
    for i in range(repeat):
        if i:
            silence("gap", repeat_pause_s)
        place("body", body, body_ids)
    if outro:
        silence("pause", layout.before_outro_s)
        place("outro", outro, [])
    silence("tail", layout.tail_s)
    return Programme(
        clips=tuple(clips),
        offsets=tuple(tuple(o) for o in offsets),
        frames=at,
        parts=tuple(spans),
    )


def speed_up(pcm: Pcm, speed: float) -> Pcm:
    """`pcm` played `speed` times faster at the same pitch (pydub's chunked crossfade)."""
    import warnings

    with warnings.catch_warnings():
        # pydub warns at import when ffmpeg is absent; we only hand it raw PCM, which needs none
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
        from pydub.effects import speedup

    seg = AudioSegment(data=pcm.samples, sample_width=2, frame_rate=pcm.rate, channels=1)
    faster = speedup(seg, playback_speed=speed, chunk_size=80, crossfade=20)
    return Pcm(faster.raw_data, pcm.rate)
