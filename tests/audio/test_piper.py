"""The Piper engine by configuration, through a stub model: no real Piper voice is tested here.

No Vietnamese Piper voice installs offline, so these tests drive `PiperEngine` through its
`loader` boundary with a stub model: a configured, working voice speaks; a missing, broken or
unconfigured one falls back to espeak-ng (a fake here) and the rendition says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from audio.errors import TTSUnavailable, UnknownVoice
from audio.options import RenderOptions
from audio.render import Renderer, RenderRequest, spoken_sentences
from audio.tts.fake import FakeEngine, tone_for
from audio.tts.piper import PiperEngine, load_piper_model

TEXT = "Bà con hãy cài đặt ứng dụng Bluezone, ngay hôm nay."


class StubModel:
    """A 'voice' answering with a tone at 16 kHz (Piper's low-quality rate), calls recorded."""

    sample_rate = 16_000

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def speak(self, text: str, *, length_scale: float) -> Iterable[bytes]:
        self.calls.append((text, length_scale))
        pcm = tone_for(text, self.sample_rate, 0.03 * len(text) * length_scale)
        half = len(pcm.samples) // 4 * 2
        yield pcm.samples[:half]  # in two chunks, as Piper streams sentence audio
        yield pcm.samples[half:]


def voice_file(tmp_path: Path, content: bytes = b"onnx bytes") -> Path:
    path = tmp_path / "vi_VN-test-medium.onnx"
    path.write_bytes(content)
    return path


def renderer(tmp_path: Path, piper: PiperEngine) -> tuple[Renderer, FakeEngine]:
    espeak = FakeEngine("espeak", voices=("bac", "trung", "nam"))
    engines = {"piper": piper, "espeak": espeak, "gtts": FakeEngine("gtts", fail=True)}
    return Renderer(tmp_path / "m", tmp_path / "c", engines=engines), espeak


def test_a_configured_voice_speaks_loaded_once(tmp_path: Path) -> None:
    stub, loads = StubModel(), []

    def loader(path: Path) -> StubModel:
        loads.append(path)
        return stub

    piper = PiperEngine(voice_file(tmp_path), loader=loader)
    r, espeak = renderer(tmp_path, piper)
    assert loads == []  # lazily: nothing loads before the first sentence
    out = r.render(RenderRequest(text=TEXT, options=RenderOptions(engine="piper", speed=1.25)))
    assert out.engines == ("piper",) and not out.fell_back and espeak.calls == []
    units = list(spoken_sentences(TEXT))
    assert len(units) == 2 and units[0].endswith(",")  # cut after the comma
    assert [c[0] for c in stub.calls][:2] == units
    assert {c[1] for c in stub.calls} == {0.8}  # speed 1.25 → length scale 1/1.25
    r.render(RenderRequest(text="Câu khác.", options=RenderOptions(engine="piper")))
    assert len(loads) == 1
    # auto prefers the configured local voice over the network
    auto = r.render(RenderRequest(text="Câu thứ ba.", options=RenderOptions(engine="auto")))
    assert auto.engines == ("piper",)


def test_sentence_cache_follows_the_model_file(tmp_path: Path) -> None:
    path = voice_file(tmp_path)
    piper = PiperEngine(path, loader=lambda _: StubModel())
    first = piper.resolve_voice("nam")
    assert first.startswith("vi_VN-test-medium-") and piper.resolve_voice("bac") == first
    path.write_bytes(b"another voice, same name")
    assert piper.resolve_voice(None) != first  # a replaced voice is not served from old cache
    with pytest.raises(UnknownVoice):
        piper.resolve_voice("klingon")


@pytest.mark.parametrize("case", ["missing", "broken", "not_installed", "fails_to_speak"])
def test_an_unusable_voice_falls_back_to_espeak(tmp_path: Path, case: str) -> None:
    path = voice_file(tmp_path)

    def loader(p: Path) -> StubModel:
        if case == "broken":
            raise TTSUnavailable(f"the Piper voice {p.name} did not load: bad protobuf")
        if case == "not_installed":
            return load_piper_model(p)  # type: ignore[return-value]
        stub = StubModel()
        if case == "fails_to_speak":
            stub.speak = lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("onnx says no"))  # type: ignore[method-assign]
        return stub

    if case == "missing":
        path.unlink()
    r, espeak = renderer(tmp_path, PiperEngine(path, loader=loader))
    out = r.render(RenderRequest(text=TEXT, options=RenderOptions(engine="piper", region="nam")))
    assert out.engines == ("espeak",) and out.fell_back
    assert espeak.calls  # espeak-ng spoke every unit
    meta = r.store.meta(out.sha256)
    assert meta is not None and meta["engine_failures"][0].startswith("piper: ")
    expected = {"missing": "missing", "broken": "did not load", "fails_to_speak": "onnx says no",
                "not_installed": "piper"}[case]  # fmt: skip
    assert expected in meta["engine_failures"][0]


def test_real_loader_without_piper_tts_is_unavailable(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    try:
        import piper  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(TTSUnavailable, match="pip install piper-tts"):
            load_piper_model(voice_file(tmp_path))
    else:  # piper-tts installed: a file that is no model must not load
        with pytest.raises(TTSUnavailable, match="did not load"):
            load_piper_model(voice_file(tmp_path))


def test_unconfigured_piper_is_skipped_by_auto_and_falls_back_when_named(tmp_path: Path) -> None:
    r, _ = renderer(tmp_path, PiperEngine(None))
    r.engines["gtts"] = FakeEngine("gtts")
    auto = r.render(RenderRequest(text=TEXT, options=RenderOptions(engine="auto")))
    assert auto.engines == ("gtts",) and not auto.fell_back  # Piper not tried, not a failure
    named = r.render(RenderRequest(text=TEXT, options=RenderOptions(engine="piper")))
    assert named.engines == ("espeak",) and named.fell_back
    meta = r.store.meta(named.sha256)
    assert meta is not None and "PA_TTS_PIPER_MODEL" in meta["engine_failures"][0]


def test_resampled_to_the_output_rate(tmp_path: Path) -> None:
    piper = PiperEngine(voice_file(tmp_path), loader=lambda _: StubModel())
    pcm = piper.synthesize("Xin chào.", voice=piper.resolve_voice(None), speed=1.0)
    assert pcm.rate == 16_000 and len(pcm.samples) > 0
    r, _ = renderer(tmp_path, piper)
    opts = RenderOptions(engine="piper", repeat=1, chime=False, outro=False)
    out = r.render(RenderRequest(text="Xin chào.", options=opts))
    expected = 0.3 + 0.03 * len("Xin chào.") + 0.5  # lead + speech + tail
    assert out.duration_ms / 1000 == pytest.approx(expected, abs=0.02)
    assert np.isfinite(out.loudness_lufs)
