"""Composition with pydub: chime, intro, the body repeated with gaps, outro, at one rate, mono."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audio.pcm import OUTPUT_RATE, Pcm

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is absent; we only hand it raw PCM, which needs none
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.effects import speedup
    from pydub.silence import detect_leading_silence

#: Parts of a programme that are silence by construction (never stored or processed).
SILENT_PARTS = frozenset({"lead", "pause", "gap", "tail"})
#: Below this a TTS piece's edge counts as silence and is trimmed, so our gaps are the gaps.
SILENCE_DBFS = -50.0


@dataclass(frozen=True)
class Layout:
    """Pauses and fades of a broadcast, in seconds."""

    lead_s: float = 0.3
    after_chime_s: float = 0.6
    sentence_gap_s: float = 0.35
    after_intro_s: float = 0.8
    before_outro_s: float = 1.2
    tail_s: float = 0.5
    fade_s: float = 0.012


@dataclass(frozen=True)
class Programme:
    """The composed broadcast as its distinct clips and where they sit, silence elsewhere.

    A body repeated N times is one clip placed N times: loudness work runs on each clip once.
    `parts` names every span (seconds), silences included, for metadata and tests.
    """

    clips: tuple[Pcm, ...]
    offsets: tuple[tuple[int, ...], ...]
    frames: int
    parts: tuple[tuple[str, float, float], ...]

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / OUTPUT_RATE

    def assemble(self, clips: Sequence[Pcm]) -> Pcm:
        """The whole broadcast with `clips` (processed versions of `self.clips`) in place."""
        out = np.zeros(self.frames, dtype="<i2")
        for clip, offsets in zip(clips, self.offsets, strict=True):
            samples = np.frombuffer(clip.samples, dtype="<i2")
            for at in offsets:
                out[at : at + len(samples)] = samples
        return Pcm(out.tobytes(), OUTPUT_RATE)


def _segment(pcm: Pcm) -> AudioSegment:
    seg = AudioSegment(data=pcm.samples, sample_width=2, frame_rate=pcm.rate, channels=1)
    return seg if pcm.rate == OUTPUT_RATE else seg.set_frame_rate(OUTPUT_RATE)


def _silence(seconds: float) -> AudioSegment:
    return AudioSegment.silent(duration=round(seconds * 1000), frame_rate=OUTPUT_RATE)


def speech_segment(pieces: Sequence[Pcm], layout: Layout) -> AudioSegment:
    """Sentences trimmed of edge silence, faded in/out, joined with the sentence gap."""
    fade_ms = round(layout.fade_s * 1000)
    out: list[AudioSegment] = []
    for i, pcm in enumerate(pieces):
        seg = _segment(pcm)
        start = detect_leading_silence(seg, SILENCE_DBFS)
        end = len(seg) - detect_leading_silence(seg.reverse(), SILENCE_DBFS)
        if end > start:
            seg = seg[start:end]
        if i:
            out.append(_silence(layout.sentence_gap_s))
        out.append(seg.fade_in(min(fade_ms, len(seg) // 2)).fade_out(min(fade_ms, len(seg) // 2)))
    return _join(out)


def _join(segments: Sequence[AudioSegment]) -> AudioSegment:
    # one join instead of repeated `+`, which copies the growing programme every time
    return AudioSegment(
        data=b"".join(s.raw_data for s in segments),
        sample_width=2,
        frame_rate=OUTPUT_RATE,
        channels=1,
    )


def compose(
    *,
    chime: Pcm | None,
    intro: Sequence[Pcm],
    body: AudioSegment,
    repeat: int,
    gap_s: float,
    outro: Sequence[Pcm],
    layout: Layout = Layout(),
) -> Programme:
    """Lay out the broadcast: [chime] [intro] body × repeat (gap between) [outro]."""
    parts: list[tuple[str, AudioSegment]] = [("lead", _silence(layout.lead_s))]
    if chime is not None:
        parts += [("chime", _segment(chime)), ("pause", _silence(layout.after_chime_s))]
    if intro:
        parts += [
            ("intro", speech_segment(intro, layout)),
            ("pause", _silence(layout.after_intro_s)),
        ]
    for i in range(repeat):
        if i:
            parts.append(("gap", _silence(gap_s)))
        parts.append(("body", body))
    if outro:
        parts += [
            ("pause", _silence(layout.before_outro_s)),
            ("outro", speech_segment(outro, layout)),
        ]
    parts.append(("tail", _silence(layout.tail_s)))
    spans: list[tuple[str, float, float]] = []
    clips: dict[int, tuple[AudioSegment, list[int]]] = {}  # by identity: the body is one object
    at = 0
    for name, seg in parts:
        n = len(seg.raw_data) // 2
        spans.append((name, at / OUTPUT_RATE, (at + n) / OUTPUT_RATE))
        if name not in SILENT_PARTS:
            clips.setdefault(id(seg), (seg, []))[1].append(at)
        at += n
    return Programme(
        clips=tuple(Pcm(seg.raw_data, OUTPUT_RATE) for seg, _ in clips.values()),
        offsets=tuple(tuple(offsets) for _, offsets in clips.values()),
        frames=at,
        parts=tuple(spans),
    )


def as_segment(pcm: Pcm) -> AudioSegment:
    """A recording as the body: at the output rate, with short fades."""
    seg = _segment(pcm)
    fade_ms = min(20, len(seg) // 2)
    return seg.fade_in(fade_ms).fade_out(fade_ms)


def speed_up(pcm: Pcm, speed: float) -> Pcm:
    """`pcm` played `speed` times faster at the same pitch (pydub's chunked crossfade)."""
    seg = AudioSegment(data=pcm.samples, sample_width=2, frame_rate=pcm.rate, channels=1)
    faster = speedup(seg, playback_speed=speed, chunk_size=80, crossfade=20)
    return Pcm(faster.raw_data, pcm.rate)
