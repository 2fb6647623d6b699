"""The unseen announcements, rendered offline with espeak-ng, sound whole: no silence inside
one longer than 1.5 s (heard as the end), no clipped sample, and a length that follows the words.

The full set (83 texts, about 15 s of CPU) is measured by `bench/speech_unseen.py`; here the
longest text of each kind is rendered, which holds the most pauses and numbers of its kind.
"""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio.checks import clipped_samples, longest_inner_silence_s
from audio.decode import decode_audio
from audio.options import RenderOptions
from audio.render import Renderer, RenderRequest
from audio.tts.espeak import EspeakEngine
from tests.audio.conftest import tone

DATA = Path(__file__).parents[1] / "announcements" / "data" / "unseen-announcements.toml"
ITEMS: list[dict[str, Any]] = tomllib.loads(DATA.read_text(encoding="utf-8"))["announcement"]
LONGEST_PER_KIND = {
    kind: max((i for i in ITEMS if i["kind"] == kind), key=lambda i: len(i["text"]))
    for kind in sorted({i["kind"] for i in ITEMS})
}
MAX_GAP_S = 1.5
RATE = 22_050


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    tmp = tmp_path_factory.mktemp("unseen")
    return Renderer(tmp / "media", tmp / "cache", engines={"espeak": EspeakEngine()})


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LONGEST_PER_KIND))
def test_unseen_announcement_renders_whole(renderer: Renderer, kind: str) -> None:
    item = LONGEST_PER_KIND[kind]
    text = item["text"]
    if item.get("form") == "NFD":
        text = unicodedata.normalize("NFD", text)
    options = RenderOptions(engine="espeak", repeat=1, chime=False, intro=False, outro=False)
    rendition = renderer.render(RenderRequest(text=text, options=options))
    pcm = decode_audio(rendition.path.read_bytes())
    samples = np.frombuffer(pcm.samples, dtype="<i2")
    seconds = len(samples) / pcm.rate
    words = len(rendition.spoken_text.split())

    assert longest_inner_silence_s(samples, pcm.rate) <= MAX_GAP_S
    assert clipped_samples(samples) == 0
    # every spoken word is heard (not cut short) and no stretch of nothing is added: espeak-ng
    # says a Vietnamese syllable in 0.1-0.5 s with the pauses between sentences included
    assert 0.1 * words <= seconds <= 0.5 * words


def test_a_long_pause_inside_is_found_but_lead_and_tail_are_not() -> None:
    silence = np.zeros(int(2.0 * RATE), dtype="<i2")
    speech = tone(0.5, RATE)
    gapped = np.concatenate([silence, speech, silence, speech, silence])
    assert longest_inner_silence_s(gapped, RATE) == pytest.approx(2.0, abs=0.05)
    assert longest_inner_silence_s(np.concatenate([silence, speech, silence]), RATE) == 0.0


def test_full_scale_samples_count_as_clipped() -> None:
    speech = tone(0.5, RATE)
    assert clipped_samples(speech) == 0
    loud = np.clip(speech.astype(np.int32) * 8, -32768, 32767).astype("<i2")
    assert clipped_samples(loud) > 0
