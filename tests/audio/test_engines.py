"""TTS engines: espeak-ng voices and speed, gTTS at its HTTP boundary, recordings."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import requests
import responses

from audio.errors import BadRecording, TTSUnavailable, UnknownVoice
from audio.tts.espeak import EspeakEngine, rate_for
from audio.tts.google import GttsEngine
from audio.tts.recording import load_recording
from tests.audio.conftest import mp3_bytes, tone, wav_bytes

GTTS_URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
TEXT = "Bà con hãy cài đặt ứng dụng Bluezone."


def test_espeak_speaks_three_vietnamese_accents() -> None:
    engine = EspeakEngine()
    outs = {}
    for friendly in ("bac", "trung", "nam"):
        pcm = engine.synthesize(TEXT, voice=engine.resolve_voice(friendly), speed=1.0)
        assert pcm.rate == 22_050
        assert 1.0 < pcm.duration_s < 6.0
        outs[friendly] = pcm.samples
    assert len(set(outs.values())) == 3  # three different voices, not one
    assert engine.resolve_voice("south") == engine.resolve_voice("nam") == "vi-vn-x-south"
    assert engine.resolve_voice(None) == "vi"


def test_espeak_speed_changes_the_rate() -> None:
    engine = EspeakEngine()
    slow = engine.synthesize(TEXT, voice="vi", speed=0.75)
    fast = engine.synthesize(TEXT, voice="vi", speed=1.5)
    assert fast.duration_s < slow.duration_s * 0.7
    assert rate_for(1.0) == 175 and rate_for(100) == 450


def test_espeak_unknown_voice() -> None:
    with pytest.raises(UnknownVoice, match="klingon"):
        EspeakEngine().resolve_voice("klingon")


def _gtts_body(mp3: bytes) -> str:
    b64 = base64.b64encode(mp3).decode()
    return ')]}\'\n\n[["wrb.fr","jQ1olc","[\\"' + b64 + '\\"]",null,null,null,"generic"]]\n'


@responses.activate
def test_gtts_success_decodes_the_mp3_in_process() -> None:
    responses.add(responses.POST, GTTS_URL, body=_gtts_body(mp3_bytes(tone(1.0, 24_000), 24_000)))
    pcm = GttsEngine().synthesize(TEXT, voice="vi", speed=1.0)
    assert pcm.rate == 22_050  # decoded straight to our output rate
    assert 0.9 < pcm.duration_s < 1.3
    assert np.abs(np.frombuffer(pcm.samples, "<i2")).max() > 5000  # real sound, not silence
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (requests.ConnectionError("no route"), "unreachable"),
        (requests.ConnectTimeout("slow"), "timed out"),
        (429, "429"),
        (200, "no audio"),  # 200 with no audio in it
    ],
)
@responses.activate
def test_gtts_failures_are_tts_unavailable(failure: object, message: str) -> None:
    if isinstance(failure, Exception):
        responses.add(responses.POST, GTTS_URL, body=failure)
    else:
        responses.add(responses.POST, GTTS_URL, status=int(str(failure)), body="nothing")
    with pytest.raises(TTSUnavailable, match=message):
        GttsEngine(timeout_s=0.5).synthesize(TEXT, voice="vi", speed=1.0)


def test_gtts_has_one_voice() -> None:
    with pytest.raises(UnknownVoice):
        GttsEngine().resolve_voice("nam")


def test_recordings_decode_wav_and_mp3() -> None:
    assert load_recording(wav_bytes(tone(1.0)), "a.wav").duration_s == pytest.approx(1.0, abs=0.01)
    assert load_recording(mp3_bytes(tone(1.0, 24_000)), "a.mp3").duration_s == pytest.approx(
        1.0, abs=0.1
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"ID3 this is not audio at all" * 50, "not readable"),
        (wav_bytes(tone(0.05)), "only 50 ms"),
    ],
)
def test_bad_recordings(data: bytes, message: str) -> None:
    with pytest.raises(BadRecording, match=message):
        load_recording(data, "x")
