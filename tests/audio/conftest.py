"""Fixtures for audio tests: renderers over temporary folders, fake engines, test audio."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import lameenc
import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from audio.decode import decode_audio
from audio.render import Renderer
from audio.tts.fake import FakeEngine


def tone(seconds: float, rate: int = 22_050, freq: float = 220.0) -> np.ndarray:
    """A speech-loud test tone as int16."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")


def wav_bytes(samples: np.ndarray, rate: int = 22_050) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def mp3_bytes(samples: np.ndarray, rate: int = 24_000) -> bytes:
    enc = lameenc.Encoder()
    enc.set_bit_rate(32)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(7)
    return bytes(enc.encode(samples.tobytes()) + enc.flush())


def measure(path: Path) -> tuple[float, float, float]:
    """(duration s, integrated LUFS, true peak dBTP) of an audio file, measured independently."""
    pcm = decode_audio(path.read_bytes())
    x = np.frombuffer(pcm.samples, dtype="<i2").astype(np.float64) / 32768
    lufs = pyloudnorm.Meter(pcm.rate).integrated_loudness(x)
    peak = 20 * math.log10(np.max(np.abs(resample_poly(x, 4, 1))))
    return len(x) / pcm.rate, lufs, peak


@pytest.fixture
def fakes() -> dict[str, FakeEngine]:
    return {
        "gtts": FakeEngine("gtts", rate=24_000),
        "espeak": FakeEngine("espeak", voices=("bac", "trung", "nam")),
    }


@pytest.fixture
def fake_renderer(tmp_path: Path, fakes: dict[str, FakeEngine]) -> Renderer:
    return Renderer(tmp_path / "media", tmp_path / "cache", engines=fakes)


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    """The real engines (gTTS unreachable here or mocked by `responses`)."""
    return Renderer(tmp_path / "media", tmp_path / "cache", gtts_timeout_s=0.5)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
