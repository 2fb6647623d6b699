"""Text (or an operator's recording) → a broadcast-ready file in the media store.

validate (nothing written) → render cache → speak (sentence cache, engine chain) → compose
→ band-limit → loudness → encode → media store (atomic) → render cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from announcements.normalize import normalize, split_sentences
from audio import loudness
from audio.bandpass import band_limit
from audio.chime import chime_fingerprint, make_chime
from audio.compose import Layout, Programme, as_segment, compose, speech_segment
from audio.decode import decode_audio
from audio.encode import FORMATS, MP3_BITRATE_KBPS, MP3_QUALITY, check_format, encode
from audio.errors import BadRecording, BadRequest, BadText, UnknownEngine
from audio.pcm import OUTPUT_RATE, Pcm
from audio.sentence_cache import SentenceCache
from audio.speaker import Speaker
from audio.store import MediaStore, RenderCache
from audio.tts import TTSEngine
from audio.tts.espeak import EspeakEngine
from audio.tts.google import GttsEngine
from audio.tts.recording import load_recording

log = logging.getLogger(__name__)

Engine = Literal["auto", "gtts", "espeak"]
Format = Literal["mp3", "opus"]

#: Bump when a change in this pipeline changes the sound: old render cache entries then miss.
RENDER_VERSION = 2
MAX_TEXT_CHARS = 5_000
MAX_COMMUNE_CHARS = 80
SPEED_RANGE = (0.5, 2.0)
MAX_REPEAT = 10
MAX_GAP_S = 30.0
TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
#: Delivered loudness this close to the target needs no second pass.
LOUDNESS_TOLERANCE_LU = 0.3
#: Our MP3 (64 kb/s, 22,050 Hz) decodes this much quieter than its input (measured on speech
#: at 48–128 kb/s: 0.34–0.36 LU; on limited espeak-ng speech in bench/render.py: 0.43 LU);
#: aiming this much higher saves the second pass.
MP3_LOSS_LU = 0.4
#: MP3 decoding overshoots the limiter's peaks by up to ~0.1 dB (measured on espeak-ng speech):
#: limiting this much lower keeps the delivered file under the ceiling in one pass.
MP3_PEAK_HEADROOM_DB = 0.3
#: After gTTS fails, `auto` renders skip the network (cached gTTS sentences still count) this long.
GTTS_RETRY_AFTER_S = 60.0
#: `auto` tries these in order.
AUTO_CHAIN = ("gtts", "espeak")

PHRASES: dict[str, str] = tomllib.loads(Path(__file__).with_name("phrases.toml").read_text("utf-8"))


@dataclass(frozen=True)
class RenderRequest:
    """Everything that shapes one broadcast file."""

    text: str | None = None
    recording: bytes | None = None
    recording_name: str | None = None
    engine: Engine = "auto"
    voice: str | None = None
    speed: float = 1.0
    repeat: int = 2
    gap_s: float = 2.0
    chime: bool = True
    intro_commune: str | None = None
    outro: bool = True
    format: Format = "mp3"
    band_limit: bool = False


@dataclass(frozen=True)
class Rendition:
    """A rendered file in the media store and what it holds."""

    sha256: str
    ext: str
    mime: str
    path: Path
    bytes: int
    duration_ms: int
    loudness_lufs: float
    true_peak_dbtp: float
    engines: tuple[str, ...]
    fell_back: bool
    cache_hit: bool
    spoken_text: str


@dataclass(frozen=True)
class _Plan:
    """A validated request: what to say, with which engines; nothing written yet."""

    chain: tuple[tuple[TTSEngine, str], ...]
    intro: tuple[str, ...]
    body: tuple[str, ...]
    outro: tuple[str, ...]
    recording: Pcm | None
    recording_sha256: str | None
    spoken_text: str
    material: str

    def key(self, outcome: str) -> str:
        """Render cache key: every input that shapes the sound, plus which engine spoke."""
        return hashlib.sha256(f"{self.material}\0{outcome}".encode()).hexdigest()


def master(programme: Programme, clips: Sequence[loudness.Signal], fmt: str) -> _Mastered:
    """Normalise, encode, measure the delivered file; correct once if the codec moved it.

    `clips` are `programme.clips` as floats (band-limited if asked): loudness work runs on
    each distinct clip once. MP3 at our rate reads about 0.35 LU quieter after decoding than
    before encoding, and a codec can add peak: so loudness and true peak are measured on the
    decoded file (what residents hear), and a second pass compensates when they miss. Opus has
    no in-process decoder here: its figures are the encoder's input's.
    """
    mp3 = fmt == "mp3"
    target = TARGET_LUFS + (MP3_LOSS_LU if mp3 else 0.0)
    ceiling = CEILING_DBTP - (MP3_PEAK_HEADROOM_DB if mp3 else 0.0)
    placed = list(zip(clips, programme.offsets, strict=True))
    for attempt in range(2):
        ys = loudness.normalize(placed, programme.frames, OUTPUT_RATE, target, ceiling)
        pcm = programme.assemble([Pcm.from_float(y, OUTPUT_RATE) for y in ys])
        data = encode(pcm, fmt)
        heard = decode_audio(data, "our own MP3").to_float() if fmt == "mp3" else pcm.to_float()
        lufs = loudness.integrated_lufs(heard, OUTPUT_RATE)
        peak = loudness.true_peak_dbtp(heard)
        if attempt or (abs(lufs - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU and peak <= CEILING_DBTP):
            break
        log.info("second mastering pass: %.2f LUFS, %.2f dBTP after encoding", lufs, peak)
        target += TARGET_LUFS - lufs
        ceiling -= max(0.0, peak - CEILING_DBTP)
    return _Mastered(data, round(lufs, 2), round(peak, 2), attempt + 1)


@dataclass(frozen=True)
class _Mastered:
    """The encoded broadcast, its measured loudness and peak, and how many encodes it took."""

    data: bytes
    lufs: float
    peak: float
    passes: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sentences(text: str) -> tuple[str, ...]:
    # punctuation-only pieces ("…", "-") carry no words: nothing for a voice to say
    return tuple(s for s in split_sentences(normalize(text)) if any(c.isalnum() for c in s))


class Renderer:
    """Renders RenderRequests into a MediaStore, caching sentences and whole renders."""

    def __init__(
        self,
        media_dir: Path,
        cache_dir: Path,
        gtts_timeout_s: float = 4.0,
        *,
        engines: Mapping[str, TTSEngine] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = MediaStore(media_dir)
        self.renders = RenderCache(cache_dir / "renders")
        self.sentences = SentenceCache(cache_dir / "sentences")
        self.engines: dict[str, TTSEngine] = (
            dict(engines)
            if engines is not None
            else {"gtts": GttsEngine(gtts_timeout_s), "espeak": EspeakEngine()}
        )
        self.clock = clock
        self.monotonic = monotonic
        self._gtts_down_until = -math.inf
        self._lock = threading.Lock()

    # -- validation -------------------------------------------------------------------------

    def _chain(self, req: RenderRequest) -> tuple[tuple[TTSEngine, str], ...]:
        if req.engine == "auto":
            names = [n for n in AUTO_CHAIN if n in self.engines]
            # the voice chooses among espeak-ng's accents; gTTS has one voice
            return tuple(
                (self.engines[n], self.engines[n].resolve_voice(None if n == "gtts" else req.voice))
                for n in names
            )
        engine = self.engines.get(req.engine)
        if engine is None:
            known = ", ".join(["auto", *self.engines])
            raise UnknownEngine(f"unknown engine {req.engine!r} (choose {known})")
        return ((engine, engine.resolve_voice(req.voice)),)

    def plan(self, req: RenderRequest) -> _Plan:
        """Validate `req` fully; raises AudioError (or announcements' errors) before any write."""
        chain = self._chain(req)
        check_format(req.format)
        if not (SPEED_RANGE[0] <= req.speed <= SPEED_RANGE[1]):
            raise BadRequest(f"speed {req.speed:g} is outside {SPEED_RANGE[0]}–{SPEED_RANGE[1]}")
        if not (1 <= req.repeat <= MAX_REPEAT):
            raise BadRequest(f"repeat {req.repeat} is outside 1–{MAX_REPEAT}")
        if not (0.0 <= req.gap_s <= MAX_GAP_S):
            raise BadRequest(f"gap {req.gap_s:g} s is outside 0–{MAX_GAP_S:g} s")
        commune = None
        if req.intro_commune is not None:
            commune = " ".join(req.intro_commune.split())
            if not commune:
                raise BadRequest("the commune name for the intro is empty")
            if len(commune) > MAX_COMMUNE_CHARS:
                raise BadRequest(f"the commune name is over {MAX_COMMUNE_CHARS} characters")
        if req.text is not None and len(req.text) > MAX_TEXT_CHARS:
            raise BadText(f"text is {len(req.text):,} characters long (limit {MAX_TEXT_CHARS:,})")

        recording = recording_sha = None
        if req.recording is not None:
            if req.speed != 1.0:
                raise BadRequest("speed applies to synthesised speech; a recording plays as is")
            recording = load_recording(req.recording, req.recording_name)
            recording_sha = hashlib.sha256(req.recording).hexdigest()
            body: tuple[str, ...] = ()
            # an accompanying text is the recording's transcript: kept, not spoken
            spoken = " ".join(req.text.split()) if req.text else ""
        else:
            if req.text is None or not req.text.strip():
                raise BadText("text is empty")
            body = _sentences(req.text)
            if not body:
                raise BadText("text has nothing speakable (no letters or digits)")
            spoken = " ".join(body)
        intro = _sentences(PHRASES["intro"].format(commune=commune)) if commune else ()
        outro: tuple[str, ...] = ()
        if req.outro:
            template = PHRASES["outro_commune"] if commune else PHRASES["outro"]
            outro = _sentences(template.format(commune=commune))

        material = json.dumps(
            {
                "v": RENDER_VERSION,
                "engine": req.engine,
                "chain": [(e.name, v) for e, v in chain],
                "speed": round(req.speed, 3),
                "repeat": req.repeat,
                "gap_s": round(req.gap_s, 3),
                "chime": chime_fingerprint() if req.chime else None,
                "intro": intro,
                "body": body,
                "recording": recording_sha,
                "transcript": spoken if recording is not None else None,
                "outro": outro,
                "format": req.format,
                "band_limit": req.band_limit,
                "loudness": [TARGET_LUFS, CEILING_DBTP],
                "layout": asdict(Layout()),
                "rate": OUTPUT_RATE,
                "mp3": [MP3_BITRATE_KBPS, MP3_QUALITY],
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        return _Plan(chain, intro, body, outro, recording, recording_sha, spoken, material)

    # -- rendering --------------------------------------------------------------------------

    def render(self, req: RenderRequest) -> Rendition:
        """Render `req` (or serve it from the render cache); see the module docstring."""
        plan = self.plan(req)
        cache_only: frozenset[str] = frozenset()
        if req.engine == "auto" and self.monotonic() < self._gtts_down_until:
            cache_only = frozenset({"gtts"})
        # the render cache key includes which engine speaks: guess the first that is up
        guess = next((e.name for e, _ in plan.chain if e.name not in cache_only), "")
        cached = self._cached(plan.key(guess))
        if cached is not None:
            return cached

        speaker = Speaker(plan.chain, self.sentences, req.speed, cache_only)
        spoken = speaker.speak([*plan.intro, *plan.body, *plan.outro])
        if spoken.fell_back and "gtts" in {e.name for e, _ in plan.chain}:
            with self._lock:
                self._gtts_down_until = self.monotonic() + GTTS_RETRY_AFTER_S
        outcome = spoken.engines[0] if spoken.engines else guess
        key = plan.key(outcome)
        if outcome != guess:
            cached = self._cached(key, fell_back=spoken.fell_back)
            if cached is not None:
                return cached

        n_intro, n_body = len(plan.intro), len(plan.body)
        pieces = spoken.pieces
        layout = Layout()
        body_seg = (
            as_segment(plan.recording)
            if plan.recording is not None
            else speech_segment(pieces[n_intro : n_intro + n_body], layout)
        )
        programme = compose(
            chime=make_chime(OUTPUT_RATE) if req.chime else None,
            intro=pieces[:n_intro],
            body=body_seg,
            repeat=req.repeat,
            gap_s=req.gap_s,
            outro=pieces[n_intro + n_body :],
            layout=layout,
        )
        # each clip filtered alone: clips end in fades, so the filter's ringing past them is nil
        clips = [c.to_float() for c in programme.clips]
        if req.band_limit:
            clips = [band_limit(x, OUTPUT_RATE) for x in clips]
        try:
            mastered = master(programme, clips, req.format)
        except loudness.Silent as exc:
            if plan.recording is not None:
                raise BadRecording("the recording is silent") from exc
            raise
        data, lufs, peak = mastered.data, mastered.lufs, mastered.peak
        ext, mime = FORMATS[req.format]
        engines = tuple(dict.fromkeys(spoken.engines))
        if plan.recording is not None:
            engines = (*engines, "recording")
        texts = [*plan.intro, *plan.body, *plan.outro]
        parts = ["intro"] * n_intro + ["body"] * n_body + ["outro"] * len(plan.outro)
        meta: dict[str, Any] = {
            "mime": mime,
            "bytes": len(data),
            "duration_ms": round(programme.duration_s * 1000),
            "loudness_lufs": lufs,
            "true_peak_dbtp": peak,
            "engines": list(engines),
            "fell_back": spoken.fell_back,
            "engine_failures": list(spoken.failures),
            "spoken_text": plan.spoken_text,
            "sentences": [
                {"part": p, "text": t, "engine": e}
                for p, t, e in zip(parts, texts, spoken.engines, strict=True)
            ],
            "recording": {"name": req.recording_name, "sha256": plan.recording_sha256}
            if plan.recording is not None
            else None,
            "layout": [
                {"part": n, "start_s": round(a, 3), "end_s": round(b, 3)}
                for n, a, b in programme.parts
            ],
            "request": {
                "engine": req.engine,
                "voice": req.voice,
                "speed": req.speed,
                "repeat": req.repeat,
                "gap_s": req.gap_s,
                "chime": req.chime,
                "intro_commune": req.intro_commune,
                "outro": req.outro,
                "format": req.format,
                "band_limit": req.band_limit,
            },
            "rate": OUTPUT_RATE,
            "created": self.clock().isoformat(),
        }
        sha = self.store.put(data, ext, meta)
        self.renders.put(key, sha, ext)
        return self._rendition(sha, ext, self.store.meta(sha) or meta, cache_hit=False)

    def _cached(self, key: str, fell_back: bool | None = None) -> Rendition | None:
        entry = self.renders.get(key)
        if entry is None or not self.store.exists(*entry):
            return None
        meta = self.store.meta(entry[0])
        if meta is None:
            return None
        if fell_back is not None:
            meta = {**meta, "fell_back": fell_back}
        return self._rendition(entry[0], entry[1], meta, cache_hit=True)

    def _rendition(
        self, sha: str, ext: str, meta: Mapping[str, Any], *, cache_hit: bool
    ) -> Rendition:
        return Rendition(
            sha256=sha,
            ext=ext,
            mime=str(meta["mime"]),
            path=self.store.path(sha, ext),
            bytes=int(meta["bytes"]),
            duration_ms=int(meta["duration_ms"]),
            loudness_lufs=float(meta["loudness_lufs"]),
            true_peak_dbtp=float(meta["true_peak_dbtp"]),
            engines=tuple(meta["engines"]),
            fell_back=bool(meta["fell_back"]),
            cache_hit=cache_hit,
            spoken_text=str(meta["spoken_text"]),
        )


def spoken_sentences(text: str) -> Sequence[str]:
    """The sentences `Renderer` would send to a TTS engine for `text` (for benches and tools)."""
    return _sentences(text)
