"""Renderer: fallback chain, composition, loudness, caches, the store, every bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from audio import render as render_mod
from audio.chime import make_chime
from audio.compose import Layout
from audio.errors import (
    AudioError,
    BadRecording,
    BadRequest,
    BadText,
    EncodeError,
    EncoderUnavailable,
    UnknownEngine,
    UnknownVoice,
)
from audio.options import RenderOptions
from audio.pcm import OUTPUT_RATE
from audio.render import Renderer, RenderRequest
from audio.store import MediaStore
from audio.tts.fake import FakeEngine
from tests.audio.conftest import files_under, measure, tone, wav_bytes

GTTS_URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
BODY = "Bà con hãy cài đặt ứng dụng Bluezone. Ứng dụng giúp phát hiện người tiếp xúc gần."


@responses.activate
def test_auto_falls_back_to_espeak_when_gtts_is_unreachable(renderer: Renderer) -> None:
    responses.add(responses.POST, GTTS_URL, body=requests.ConnectionError("no network"))
    r = renderer.render(
        RenderRequest(text=BODY, options=RenderOptions(engine="auto", commune="Tân Tiến"))
    )
    assert r.engines == ("espeak",)
    assert r.fell_back and not r.cache_hit
    # circuit breaker: one failed request, not one per sentence (intro + 2 + outro)
    assert len(responses.calls) == 1
    meta = renderer.store.meta(r.sha256)
    assert meta is not None
    assert {s["engine"] for s in meta["sentences"]} == {"espeak"}
    assert [s["part"] for s in meta["sentences"]][:2] == ["intro", "body"]
    assert "unreachable" in meta["engine_failures"][0]
    # the next render in this process does not wait for Google again and hits the cache
    again = renderer.render(
        RenderRequest(text=BODY, options=RenderOptions(engine="auto", commune="Tân Tiến"))
    )
    assert again.cache_hit and again.sha256 == r.sha256 and again.fell_back
    assert len(responses.calls) == 1


@responses.activate
def test_gtts_timeout_and_429_fall_back_too(tmp_path: Path) -> None:
    for i, failure in enumerate([requests.ReadTimeout("slow"), None]):
        responses.reset()
        if failure is None:
            responses.add(responses.POST, GTTS_URL, status=429)
        else:
            responses.add(responses.POST, GTTS_URL, body=failure)
        renderer = Renderer(tmp_path / f"m{i}", tmp_path / f"c{i}", gtts_timeout_s=0.2)
        r = renderer.render(
            RenderRequest(text="Xin chào bà con.", options=RenderOptions(repeat=1, chime=False))
        )
        assert r.engines == ("espeak",) and r.fell_back


def test_gtts_engine_alone_does_not_fall_back(tmp_path: Path) -> None:
    engines = {"gtts": FakeEngine("gtts", fail=True), "espeak": FakeEngine("espeak")}
    renderer = Renderer(tmp_path / "m", tmp_path / "c", engines=engines)
    with pytest.raises(AudioError, match="no engine could speak"):
        renderer.render(RenderRequest(text=BODY, options=RenderOptions(engine="gtts")))
    assert files_under(tmp_path / "m") == []


def test_auto_uses_gtts_when_it_answers(fake_renderer: Renderer, fakes: dict) -> None:
    r = fake_renderer.render(RenderRequest(text=BODY))
    assert r.engines == ("gtts",) and not r.fell_back
    assert fakes["espeak"].calls == []


def test_composition_durations(fake_renderer: Renderer, fakes: dict) -> None:
    opts = RenderOptions(engine="espeak", repeat=3, repeat_pause_ms=1500, commune="Tân Tiến",
                         comma_pause_ms=150, sentence_pause_ms=600)  # fmt: skip
    text = BODY.replace("Bluezone.", "Bluezone, ngay hôm nay.")
    req = RenderRequest(text=text, options=opts)
    r = fake_renderer.render(req)
    plan = fake_renderer.plan(req)
    lay, spc = Layout(), fakes["espeak"].seconds_per_char

    def speech(units: tuple[str, ...], comma: float = 0.15, sentence: float = 0.6) -> float:
        pauses = [comma if u[-1] in ",;:" else sentence for u in units[:-1]]
        return sum(len(u) * spc for u in units) + sum(pauses)

    assert any(u.endswith(",") for u in plan.intro + plan.body + plan.outro)  # both pauses used
    expected = (
        lay.lead_s
        + make_chime(OUTPUT_RATE).duration_s
        + lay.after_chime_s
        + speech(plan.intro)
        + lay.after_intro_s
        + 3 * speech(plan.body)
        + 2 * 1.5
        + lay.before_outro_s
        + speech(plan.outro)
        + lay.tail_s
    )
    assert r.duration_ms / 1000 == pytest.approx(expected, abs=0.05)
    decoded, _, _ = measure(r.path)
    assert decoded == pytest.approx(expected, abs=0.15)  # MP3 adds encoder delay and padding
    bare_opts = RenderOptions(engine="espeak", repeat=1, chime=False, outro=False)
    bare = fake_renderer.render(RenderRequest(text=text, options=bare_opts))
    assert bare.duration_ms / 1000 == pytest.approx(
        lay.lead_s + speech(plan.body, 0.2, 0.35) + lay.tail_s, abs=0.05
    )


def test_pauses_follow_the_options(fake_renderer: Renderer, fakes: dict) -> None:
    spc = fakes["espeak"].seconds_per_char
    text = "Một hai, ba bốn. Năm sáu."  # units: "Một hai," | "ba bốn." | "Năm sáu."
    base: dict[str, Any] = {"engine": "espeak", "repeat": 1, "chime": False, "outro": False}
    speech = sum(len(u) * spc for u in ("Một hai,", "ba bốn.", "Năm sáu."))
    for comma, sentence in [(0, 0), (500, 0), (0, 2000), (1200, 300)]:
        opts = RenderOptions(**base, comma_pause_ms=comma, sentence_pause_ms=sentence)
        r = fake_renderer.render(RenderRequest(text=text, options=opts))
        expected = Layout().lead_s + speech + (comma + sentence) / 1000 + Layout().tail_s
        assert r.duration_ms / 1000 == pytest.approx(expected, abs=0.01)
    # a unit is synthesised once, whatever the pauses: three units, three engine calls
    assert sorted(set(fakes["espeak"].calls)) == ["Một hai,", "Năm sáu.", "ba bốn."]


@pytest.mark.parametrize(
    ("options", "intro"),
    [
        (RenderOptions(engine="espeak", commune="Tân Tiến"), True),  # on when the commune is known
        (RenderOptions(engine="espeak", commune="Tân Tiến", intro=False), False),
        (RenderOptions(engine="espeak"), False),  # no commune: nothing to introduce
    ],
)
def test_intro_by_default_when_the_commune_is_known(
    fake_renderer: Renderer, options: RenderOptions, intro: bool
) -> None:
    r = fake_renderer.render(RenderRequest(text=BODY, options=options))
    meta = fake_renderer.store.meta(r.sha256)
    assert meta is not None
    intros = [s["text"] for s in meta["sentences"] if s["part"] == "intro"]
    assert (intros == ["Đây là Đài truyền thanh xã Tân Tiến."]) is intro
    assert meta["options"] == options.to_dict()


def test_gtts_rate_is_resampled_to_the_output_rate(fake_renderer: Renderer, fakes: dict) -> None:
    r = fake_renderer.render(
        RenderRequest(text="Xin chào.", options=RenderOptions(repeat=1, chime=False, outro=False))
    )
    expected = Layout().lead_s + len("Xin chào.") * fakes["gtts"].seconds_per_char + Layout().tail_s
    assert r.duration_ms / 1000 == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize("band_limit", [False, True])
def test_loudness_meets_target_measured_independently(renderer: Renderer, band_limit: bool) -> None:
    r = renderer.render(
        RenderRequest(
            text=BODY, options=RenderOptions(engine="espeak", repeat=1, band_limit=band_limit)
        )
    )
    _, lufs, peak = measure(r.path)
    assert lufs == pytest.approx(-16.0, abs=1.0)
    assert peak <= -1.0
    assert r.loudness_lufs == pytest.approx(lufs, abs=0.2)


def test_changing_one_sentence_resynthesises_one(fake_renderer: Renderer, fakes: dict) -> None:
    text = "Câu thứ nhất. Câu thứ hai. Câu thứ ba."
    fake_renderer.render(
        RenderRequest(text=text, options=RenderOptions(engine="espeak", outro=False))
    )
    assert len(fakes["espeak"].calls) == 3
    fake_renderer.render(
        RenderRequest(
            text=text.replace("hai", "bốn"), options=RenderOptions(engine="espeak", outro=False)
        )
    )
    assert fakes["espeak"].calls[3:] == ["Câu thứ bốn."]
    # a different voice or speed is a different cache entry
    fake_renderer.render(
        RenderRequest(text=text, options=RenderOptions(engine="espeak", outro=False, speed=1.2))
    )
    assert len(fakes["espeak"].calls) == 7


def test_same_request_is_a_render_cache_hit(fake_renderer: Renderer, fakes: dict) -> None:
    req = RenderRequest(text=BODY, options=RenderOptions(engine="espeak"))
    first = fake_renderer.render(req)
    calls = len(fakes["espeak"].calls)
    second = fake_renderer.render(req)
    assert second.cache_hit and not first.cache_hit
    assert second.sha256 == first.sha256 and second.path.read_bytes() == first.path.read_bytes()
    assert len(fakes["espeak"].calls) == calls
    assert not fake_renderer.render(
        RenderRequest(text=BODY, options=RenderOptions(engine="espeak", repeat=3))
    ).cache_hit


def test_store_layout_and_metadata(fake_renderer: Renderer) -> None:
    r = fake_renderer.render(RenderRequest(text=BODY, options=RenderOptions(engine="espeak")))
    store = MediaStore(r.path.parent)
    assert r.path.name == f"{r.sha256}.mp3" and store.exists(r.sha256, "mp3")
    meta = json.loads((r.path.parent / f"{r.sha256}.json").read_text())
    for key in ("duration_ms", "bytes", "loudness_lufs", "true_peak_dbtp", "engines", "created"):
        assert key in meta
    assert meta["bytes"] == r.path.stat().st_size and meta["spoken_text"] == r.spoken_text
    assert [p.name for p in files_under(r.path.parent)] == sorted(
        [f"{r.sha256}.json", f"{r.sha256}.mp3"]
    )
    with pytest.raises(BadRequest):
        store.path("../../etc/passwd", "mp3")


def test_recording_as_body(fake_renderer: Renderer) -> None:
    rec = wav_bytes(tone(2.0, 16_000), 16_000)
    r = fake_renderer.render(
        RenderRequest(
            recording=rec,
            recording_name="loa.wav",
            options=RenderOptions(engine="espeak", repeat=2, repeat_pause_ms=1000),
        )
    )
    assert r.engines == ("espeak", "recording")  # espeak-ng (fake) spoke the outro
    assert r.duration_ms > 5000


def test_failure_while_encoding_leaves_nothing(
    fake_renderer: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def __init__(self, *_: object) -> None:
            self.aborted = False

        def write(self, samples: bytes) -> None:
            raise EncodeError("boom")

        def finish(self) -> None: ...

        def abort(self) -> None:
            self.aborted = True

    monkeypatch.setattr(render_mod, "open_encoder", Broken)
    with pytest.raises(EncodeError):
        fake_renderer.render(RenderRequest(text=BODY, options=RenderOptions(engine="espeak")))
    assert files_under(tmp_path / "media") == []
    assert files_under(tmp_path / "cache" / "renders") == []


def test_opus_without_ffmpeg_says_how_to_get_it(
    fake_renderer: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audio.encode.find_ffmpeg", lambda: None)
    with pytest.raises(EncoderUnavailable, match="imageio-ffmpeg"):
        fake_renderer.render(RenderRequest(text=BODY, options=RenderOptions(format="opus")))
    assert files_under(tmp_path) == []


BAD = [
    (RenderRequest(text=""), BadText, "empty"),
    (RenderRequest(text="   \n "), BadText, "empty"),
    (RenderRequest(text=None), BadText, "empty"),
    (RenderRequest(text="a" * 5001), BadText, "limit 5,000"),
    (RenderRequest(text="… !!! — ?"), BadText, "nothing speakable"),
    # an engine this renderer lacks (options allow it; the server has it)
    (RenderRequest(text=BODY, options=RenderOptions(engine="gtts")), UnknownEngine, "gtts"),
    (RenderRequest(text=BODY, options=RenderOptions(engine="espeak", region="nam")), UnknownVoice,
     "nam"),
    (RenderRequest(recording=b"not audio" * 100, recording_name="x.mp3"), BadRecording, "x.mp3"),
    (RenderRequest(recording=b""), BadRecording, "empty"),
]  # fmt: skip


@pytest.mark.parametrize(("req", "error", "message"), BAD)
def test_bad_input_is_refused_before_anything_is_written(
    req: RenderRequest, error: type[Exception], message: str, tmp_path: Path
) -> None:
    fake = FakeEngine("espeak", voices=("bac",))
    renderer = Renderer(tmp_path / "m", tmp_path / "c", engines={"espeak": fake})
    with pytest.raises(error, match=message):
        renderer.render(req)
    assert fake.calls == []
    assert files_under(tmp_path) == []


def test_silent_recording_is_bad(fake_renderer: Renderer, tmp_path: Path) -> None:
    silent = wav_bytes(tone(1.0) * 0)
    with pytest.raises(BadRecording, match="silent"):
        fake_renderer.render(
            RenderRequest(recording=silent, options=RenderOptions(chime=False, outro=False))
        )
    assert files_under(tmp_path / "media") == []


def test_opus_streams_through_ffmpeg(fake_renderer: Renderer) -> None:
    from audio.encode import find_ffmpeg

    if find_ffmpeg() is None:
        pytest.skip("no ffmpeg here: the refusal is tested above")
    r = fake_renderer.render(RenderRequest(text=BODY, options=RenderOptions(format="opus")))
    data = r.path.read_bytes()
    assert data[:4] == b"OggS" and r.mime == "audio/ogg" and r.bytes == len(data)
    assert r.loudness_lufs == pytest.approx(-16.0, abs=0.5) and r.true_peak_dbtp <= -1.0
