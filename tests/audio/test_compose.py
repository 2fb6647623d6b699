"""Composition on a timeline: clips placed, not copied; the walk in chunks equals the layout."""

from __future__ import annotations

import numpy as np
import pytest

from audio import compose as compose_mod
from audio.bandpass import band_limit, band_limit_int16
from audio.compose import Layout, Piece, compose, speech_piece, trim
from audio.pcm import OUTPUT_RATE, Pcm


def clip(seconds: float, value: int) -> np.ndarray:
    return np.full(round(seconds * OUTPUT_RATE), value, dtype=np.int16)


def test_repeated_body_is_placed_not_copied_and_the_walk_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = [Piece(clip(0.5, 1000), 0.2), Piece(clip(0.25, 2000), 0.0)]
    p = compose(chime=None, intro=[], body=body, repeat=3, repeat_pause_s=1.0, outro=[],
                layout=Layout())  # fmt: skip
    assert len(p.clips) == 2 and [len(o) for o in p.offsets] == [3, 3]
    lay = Layout()
    assert p.duration_s == pytest.approx(lay.lead_s + 3 * 0.95 + 2 * 1.0 + lay.tail_s, abs=1e-3)
    monkeypatch.setattr(compose_mod, "CHUNK", 4_999)  # chunk edges inside clips and silences
    out = np.concatenate(list(p.chunks()))
    assert len(out) == p.frames
    expected = np.zeros(p.frames, dtype=np.int16)
    for c, offsets in zip(p.clips, p.offsets, strict=True):
        for at in offsets:
            expected[at : at + len(c)] = c
    assert np.array_equal(out, expected)
    assert [name for name, _, _ in p.parts] == [
        "lead",
        "body",
        "gap",
        "body",
        "gap",
        "body",
        "tail",
    ]


def test_trim_and_fade() -> None:
    quiet, loud = np.zeros(2205, dtype=np.int16), clip(0.2, 8000)
    x = np.concatenate([quiet, loud, quiet])
    step = OUTPUT_RATE // 100  # trimming looks in 10-ms steps (as pydub did): a step at most left
    assert len(loud) <= len(trim(x)) <= len(loud) + 2 * step
    assert len(trim(quiet)) == len(quiet)  # all quiet: kept rather than lost
    piece = speech_piece(Pcm(x.tobytes(), OUTPUT_RATE), 0.3, Layout())
    assert len(piece.samples) == len(trim(x)) and piece.samples[0] == 0 and piece.samples[-1] == 0
    resampled = speech_piece(Pcm(loud.tobytes(), 16_000), 0.0, Layout())
    assert len(resampled.samples) == pytest.approx(len(loud) * OUTPUT_RATE / 16_000, abs=2)


def test_band_limit_in_chunks_equals_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(200_000) * 3000).astype(np.int16)
    whole = np.round(band_limit(x / 32768.0, OUTPUT_RATE) * 32768).astype(np.int16)
    monkeypatch.setattr("audio.loudness.CHUNK", 7_000)
    assert np.max(np.abs(band_limit_int16(x, OUTPUT_RATE).astype(int) - whole)) <= 1
