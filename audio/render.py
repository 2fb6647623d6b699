"""Text (or an operator's recording) → a broadcast-ready file in the media store.

validate (nothing written) → render cache → speak (sentence cache, engine chain) → compose
→ band-limit → loudness → encode → media store (atomic) → render cache.
Memory follows the longest clip, not the broadcast: the body is placed, never copied, per
repeat; loudness, limiting, encoding and the check of the encoded file all run chunk by chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from announcements.normalize import normalize, split_sentences
from announcements.spans import Override
from audio import loudness
from audio.bandpass import band_limit_int16
from audio.chime import chime_fingerprint, make_chime
from audio.compose import CHUNK, Layout, Programme, compose, recording_piece, speech_piece
from audio.encode import FORMATS, MP3_BITRATE_KBPS, MP3_QUALITY, check_format, open_encoder
from audio.errors import BadRecording, BadText, UnknownEngine
from audio.options import RenderOptions
from audio.pcm import OUTPUT_RATE, Pcm
from audio.sentence_cache import SentenceCache
from audio.speaker import Speaker, Spoken
from audio.store import HashingWriter, MediaStore, RenderCache
from audio.tts import TTSEngine
from audio.tts.espeak import EspeakEngine
from audio.tts.google import GttsEngine
from audio.tts.piper import PiperEngine
from audio.tts.recording import load_recording

log = logging.getLogger(__name__)

#: Bump when a change in this pipeline changes the sound: old render cache entries then miss.
RENDER_VERSION = 3
MAX_TEXT_CHARS = 5_000
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
#: `auto` tries these in order (Piper only when a voice is configured).
AUTO_CHAIN = ("piper", "gtts", "espeak")
#: Engines that fall back to espeak-ng when they cannot speak (gTTS asked for alone does not:
#: whoever names it wants Google's voice or an error).
FALLS_BACK = {"piper": ("piper", "espeak")}
#: A text unit ending in one of these is followed by the comma pause; any other by the
#: sentence pause. Sentences are cut after them, so every engine pauses as the options say.
COMMA_MARKS = ",;:"
_CLAUSE = re.compile(r"(?<=[,;:])\s+")

PHRASES: dict[str, str] = tomllib.loads(Path(__file__).with_name("phrases.toml").read_text("utf-8"))


@dataclass(frozen=True)
class RenderRequest:
    """What to say (text, or an operator's recording) and how (RenderOptions)."""

    text: str | None = None
    recording: bytes | None = None
    recording_name: str | None = None
    options: RenderOptions = field(default_factory=RenderOptions)
    #: An operator's readings of spans of `text` ("3/4" said "ba phần tư"), used by normalize.
    overrides: tuple[Override, ...] = ()


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


@dataclass(frozen=True)
class _Mastered:
    """The encoded broadcast's measured loudness and peak, and how many encodes it took."""

    lufs: float
    peak: float
    passes: int


def master(
    programme: Programme, clips: Sequence[loudness.Samples16], fmt: str, out: HashingWriter
) -> _Mastered:
    """Normalise, encode into `out` chunk by chunk, measure the delivered file; correct once.

    `clips` are `programme.clips` (band-limited if asked): loudness work runs on each distinct
    clip once. MP3 at our rate reads about 0.35 LU quieter after decoding than before encoding,
    and a codec can add peak: so loudness and true peak are measured on the decoded file (what
    residents hear, decoded as a stream), and a second pass compensates when they miss. Opus has
    no in-process decoder here: its figures are the encoder's input's.
    """
    mp3 = fmt == "mp3"
    target = TARGET_LUFS + (MP3_LOSS_LU if mp3 else 0.0)
    ceiling = CEILING_DBTP - (MP3_PEAK_HEADROOM_DB if mp3 else 0.0)
    placed = list(zip(clips, programme.offsets, strict=True))
    for attempt in range(2):
        ys = loudness.normalize_int16(placed, programme.frames, OUTPUT_RATE, target, ceiling)
        out.restart()
        meter = loudness.StreamMeter(programme.frames, OUTPUT_RATE)
        encoder = open_encoder(fmt, out, OUTPUT_RATE)
        try:
            for chunk in programme.chunks(ys):
                encoder.write(chunk.tobytes())
                if not mp3:
                    meter.add(chunk / 32768.0)
            encoder.finish()
        except BaseException:
            encoder.abort()
            raise
        del ys
        lufs, peak = _measure_mp3(out, programme.frames) if mp3 else meter.result()
        if attempt or (abs(lufs - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU and peak <= CEILING_DBTP):
            break
        log.info("second mastering pass: %.2f LUFS, %.2f dBTP after encoding", lufs, peak)
        target += TARGET_LUFS - lufs
        ceiling -= max(0.0, peak - CEILING_DBTP)
    return _Mastered(round(lufs, 2), round(peak, 2), attempt + 1)


def _measure_mp3(out: HashingWriter, frames: int) -> tuple[float, float]:
    """(LUFS, dBTP) of the MP3 written so far, decoded as a stream (never whole in memory)."""
    import miniaudio

    out.file.flush()
    # the decoder adds LAME's delay and padding: a second of room for them
    meter = loudness.StreamMeter(frames + OUTPUT_RATE, OUTPUT_RATE)
    stream = miniaudio.stream_file(
        str(out.path), miniaudio.SampleFormat.SIGNED16, 1, OUTPUT_RATE, CHUNK
    )
    for block in stream:
        meter.add(np.frombuffer(block, dtype=np.int16) / 32768.0)
    return meter.result()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _units(text: str, overrides: Sequence[Override] = ()) -> tuple[str, ...]:
    """Text → what a voice says in one go: sentences, cut at commas, semicolons and colons."""
    units: list[str] = []
    for sentence in split_sentences(normalize(text, overrides=overrides)):
        # punctuation-only pieces ("…", "-") carry no words: nothing for a voice to say
        units += [u for u in _CLAUSE.split(sentence) if any(c.isalnum() for c in u)]
    return tuple(units)


def _pause_after_s(unit: str, options: RenderOptions) -> float:
    ms = options.comma_pause_ms if unit[-1:] in COMMA_MARKS else options.sentence_pause_ms
    return ms / 1000


class Renderer:
    """Renders RenderRequests into a MediaStore, caching sentences and whole renders."""

    def __init__(
        self,
        media_dir: Path,
        cache_dir: Path,
        gtts_timeout_s: float = 4.0,
        *,
        piper_model: Path | None = None,
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
            else {
                "piper": PiperEngine(piper_model),
                "gtts": GttsEngine(gtts_timeout_s),
                "espeak": EspeakEngine(),
            }
        )
        self.clock = clock
        self.monotonic = monotonic
        self._gtts_down_until = -math.inf
        self._lock = threading.Lock()

    # -- validation -------------------------------------------------------------------------

    def _chain(self, o: RenderOptions) -> tuple[tuple[TTSEngine, str], ...]:
        if o.engine == "auto":
            # an engine that says it has no voice configured (Piper without a model) is skipped
            names = [
                n
                for n in AUTO_CHAIN
                if n in self.engines and getattr(self.engines[n], "configured", True)
            ]
        else:
            names = [n for n in FALLS_BACK.get(o.engine, (o.engine,)) if n in self.engines]
            if o.engine not in self.engines:
                known = ", ".join(["auto", *self.engines])
                raise UnknownEngine(f"unknown engine {o.engine!r} (choose {known})")
        # the region chooses among espeak-ng's accents (and Piper's voices); gTTS has one voice
        return tuple(
            (self.engines[n], self.engines[n].resolve_voice(None if n == "gtts" else o.region))
            for n in names
        )

    def plan(self, req: RenderRequest) -> _Plan:
        """Validate `req` fully; raises AudioError (or announcements' errors) before any write."""
        o = req.options
        chain = self._chain(o)
        check_format(o.format)
        if req.text is not None and len(req.text) > MAX_TEXT_CHARS:
            raise BadText(f"text is {len(req.text):,} characters long (limit {MAX_TEXT_CHARS:,})")

        recording = recording_sha = None
        if req.recording is not None:
            recording = load_recording(req.recording, req.recording_name)
            recording_sha = hashlib.sha256(req.recording).hexdigest()
            body: tuple[str, ...] = ()
            # an accompanying text is the recording's transcript: kept, not spoken
            spoken = " ".join(req.text.split()) if req.text else ""
        else:
            if req.text is None or not req.text.strip():
                raise BadText("text is empty")
            body = _units(req.text, req.overrides)
            if not body:
                raise BadText("text has nothing speakable (no letters or digits)")
            spoken = " ".join(body)
        intro = _units(PHRASES["intro"].format(commune=o.commune)) if o.says_intro else ()
        outro: tuple[str, ...] = ()
        if o.outro:
            template = PHRASES["outro_commune"] if o.commune else PHRASES["outro"]
            outro = _units(template.format(commune=o.commune))

        material = json.dumps(
            {
                "v": RENDER_VERSION,
                "options": o.to_dict(),
                "chain": [(e.name, v) for e, v in chain],
                "chime": chime_fingerprint() if o.chime else None,
                "intro": intro,
                "body": body,
                "recording": recording_sha,
                "transcript": spoken if recording is not None else None,
                "outro": outro,
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
        """Render `req` (or serve it from the render cache); see the module docstring.

        The one render function: the pages, the API (through `audio.worker.RenderWorker`)
        and `pa-server say` all end here, so equal requests give byte-identical files.
        """
        o = req.options
        plan = self.plan(req)
        cache_only: frozenset[str] = frozenset()
        if o.engine == "auto" and self.monotonic() < self._gtts_down_until:
            cache_only = frozenset({"gtts"})
        # the render cache key includes which engine speaks: guess the first that is up
        guess = next((e.name for e, _ in plan.chain if e.name not in cache_only), "")
        cached = self._cached(plan.key(guess))
        if cached is not None:
            return cached

        units = [*plan.intro, *plan.body, *plan.outro]
        spoken = Speaker(plan.chain, self.sentences, o.speed, cache_only).speak(units)
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
        layout = Layout()
        pieces = [
            speech_piece(pcm, _pause_after_s(text, o), layout)
            for pcm, text in zip(spoken.pieces, units, strict=True)
        ]
        body = (
            [recording_piece(plan.recording, layout)]
            if plan.recording is not None
            else pieces[n_intro : n_intro + n_body]
        )
        programme = compose(
            chime=make_chime(OUTPUT_RATE) if o.chime else None,
            intro=pieces[:n_intro],
            body=body,
            repeat=o.repeat,
            repeat_pause_s=o.repeat_pause_ms / 1000,
            outro=pieces[n_intro + n_body :],
            layout=layout,
        )
        del pieces, body  # the programme holds the clips now
        # each clip filtered alone: clips end in fades, so the filter's ringing past them is nil
        clips = list(programme.clips)
        if o.band_limit:
            clips = [band_limit_int16(c, OUTPUT_RATE) for c in clips]
        ext, mime = FORMATS[o.format]
        with self.store.writing() as out:
            try:
                mastered = master(programme, clips, o.format, out)
            except loudness.Silent as exc:
                if plan.recording is not None:
                    raise BadRecording("the recording is silent") from exc
                raise
            out.hexdigest()  # counts what ffmpeg wrote straight into the file, too
            meta = self._meta(req, plan, programme, spoken, mastered, mime, out.size)
            sha = self.store.put_file(out, ext, meta)
        self.renders.put(key, sha, ext)
        return self._rendition(sha, ext, self.store.meta(sha) or meta, cache_hit=False)

    def _meta(
        self,
        req: RenderRequest,
        plan: _Plan,
        programme: Programme,
        spoken: Spoken,
        mastered: _Mastered,
        mime: str,
        size: int,
    ) -> dict[str, Any]:
        engines = tuple(dict.fromkeys(spoken.engines))
        if plan.recording is not None:
            engines = (*engines, "recording")
        texts = [*plan.intro, *plan.body, *plan.outro]
        parts = ["intro"] * len(plan.intro) + ["body"] * len(plan.body)
        parts += ["outro"] * len(plan.outro)
        return {
            "mime": mime,
            "bytes": size,
            "duration_ms": round(programme.duration_s * 1000),
            "loudness_lufs": mastered.lufs,
            "true_peak_dbtp": mastered.peak,
            "mastering_passes": mastered.passes,
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
            "options": req.options.to_dict(),
            "rate": OUTPUT_RATE,
            "created": self.clock().isoformat(),
        }

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
    """The units `Renderer` would send to a TTS engine for `text` (for benches and tools)."""
    return _units(text)
