"""`pa-server say`: render text or a library script to a broadcast-ready audio file."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio.options import ENGINES  # light: no numpy at the CLI's start
from pa_server.cli import CommandError

if TYPE_CHECKING:
    from audio.options import RenderOptions

#: How engine names read in the summary.
ENGINE_LABELS = {"espeak": "espeak-ng", "gtts": "gTTS", "piper": "Piper"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "say",
        help="render Vietnamese text (or a script) to MP3/Opus",
        description="Render an announcement: chime, intro, the text repeated, outro; "
        "normalised to -16 LUFS. Regions for espeak-ng: bac (north, default), trung "
        "(central), nam (south); gTTS has one voice; piper speaks the voice configured by "
        "PA_TTS_PIPER_MODEL (espeak-ng when it cannot). The same options give the same file "
        "as the compose page and the API.",
    )
    p.add_argument("text", nargs="?", help="Vietnamese text to speak")
    p.add_argument("--script", metavar="NAME", help="a script from the library (pa-server scripts)")
    p.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fill a script placeholder (repeatable)",
    )
    p.add_argument("--recording", type=Path, metavar="FILE", help="speak this MP3/WAV/OGG/FLAC")
    p.add_argument("-o", "--output", type=Path, help="also copy the file here")
    p.add_argument(
        "--options",
        metavar="JSON",
        help="render options as JSON (as the server stores them); the flags below override",
    )
    p.add_argument("--engine", choices=list(ENGINES), default=None, help="default: PA_TTS_ENGINE")
    p.add_argument("--region", "--voice", dest="region", help="bac|trung|nam (north|central|south)")
    p.add_argument("--speed", type=float, default=None, help="0.5–2.0 (1.0 = normal)")
    p.add_argument("--repeat", type=int, default=None, help="times the body is read, 1–5 (2)")
    p.add_argument(
        "--repeat-pause", type=int, default=None, metavar="MS", help="between repeats (2000)"
    )
    p.add_argument("--gap", type=float, default=None, help="seconds between repeats (old name)")
    p.add_argument("--comma-pause", type=int, default=None, metavar="MS", help="at , ; : (200)")
    p.add_argument(
        "--sentence-pause", type=int, default=None, metavar="MS", help="between sentences (350)"
    )
    p.add_argument(
        "--chime", action=argparse.BooleanOptionalAction, default=None, help="attention chime"
    )
    p.add_argument(
        "--intro",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="say 'Đây là Đài truyền thanh xã …' first (default: when the commune is known)",
    )
    p.add_argument("--commune", help="commune name for the intro and outro")
    p.add_argument("--outro", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--format", choices=["mp3", "opus"], default=None, help="default: from -o")
    p.add_argument(
        "--band-limit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="200–5,000 Hz for horn speakers",
    )
    p.add_argument("--data-dir", type=Path, help="default: PA_DATA_DIR or ./var")
    p.set_defaults(func=run)


def _announcement_errors() -> tuple[type[Exception], ...]:
    # announcements.errors lands with the real normaliser/library (other room); until then
    # only audio's own errors can occur
    try:
        module = importlib.import_module("announcements.errors")
    except ImportError:
        return ()
    return (module.AnnouncementError,)


def _values(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"--set wants KEY=VALUE, got {pair!r}")
        if key in values:
            raise CommandError(f"--set {key} given twice")
        values[key] = value
    return values


def _script_text(name: str, values: dict[str, str]) -> tuple[str, int]:
    try:
        library = importlib.import_module("announcements.library")
    except ImportError as exc:
        raise CommandError("the script library is not installed in this build") from exc
    script = library.get_script(name)
    return str(library.fill(script, values)), int(script.repeats)


def run(args: argparse.Namespace) -> int:
    """Validate, render, copy to -o, print a summary."""
    from audio.errors import AudioError

    user_errors: tuple[type[Exception], ...] = (AudioError, *_announcement_errors())
    try:
        return _run(args)
    except user_errors as exc:
        raise CommandError(str(exc)) from exc


def _options(args: argparse.Namespace, default_engine: str, repeats: int | None) -> RenderOptions:
    """RenderOptions from --options JSON, then the flags given, then the defaults."""
    from audio.options import RenderOptions

    base: dict[str, Any] = {"engine": default_engine}
    if repeats is not None:
        base["repeat"] = repeats  # a script's own repeat count, unless --repeat says otherwise
    if args.options is not None:
        base.update(RenderOptions.from_json(args.options).to_dict())
    if args.gap is not None and args.repeat_pause is None:
        args.repeat_pause = round(args.gap * 1000)
    flags = {
        "engine": args.engine,
        "region": args.region,
        "speed": args.speed,
        "repeat": args.repeat,
        "repeat_pause_ms": args.repeat_pause,
        "comma_pause_ms": args.comma_pause,
        "sentence_pause_ms": args.sentence_pause,
        "chime": args.chime,
        "intro": args.intro,
        "outro": args.outro,
        "commune": args.commune,
        "format": args.format,
        "band_limit": args.band_limit,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    return RenderOptions.from_dict(base)


def _run(args: argparse.Namespace) -> int:
    from audio.render import RenderRequest
    from audio.worker import RendererConfig
    from pa_server.config import get_settings

    values = _values(args.values)
    if args.script and args.text is not None:
        raise CommandError("give TEXT or --script, not both")
    if values and not args.script:
        raise CommandError("--set fills script placeholders: it needs --script")
    if args.script is None and args.text is None and args.recording is None:
        raise CommandError("nothing to say: give TEXT, --script NAME or --recording FILE")
    text, repeats = args.text, None
    if args.script:
        text, repeats = _script_text(args.script, values)
    recording = None
    if args.recording is not None:
        try:
            recording = args.recording.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read recording {args.recording}: {exc.strerror}") from exc
    if args.commune is None and "commune" in values:
        args.commune = values["commune"]
    if args.format is None and args.output is not None:
        args.format = "opus" if args.output.suffix.lower() in {".opus", ".ogg"} else "mp3"
    if args.output is not None and not args.output.parent.is_dir():
        raise CommandError(f"output folder {args.output.parent} does not exist")

    settings = get_settings()
    if args.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    options = _options(args, settings.tts_engine, repeats)
    if args.intro and options.commune is None:
        raise CommandError("--intro needs the commune's name: --commune NAME")
    renderer = RendererConfig(
        settings.media_dir, settings.cache_dir, settings.gtts_timeout_s, settings.tts_piper_model
    ).build()
    req = RenderRequest(
        text=text,
        recording=recording,
        recording_name=args.recording.name if args.recording else None,
        options=options,
    )
    r = renderer.render(req)
    if args.output is not None:
        from audio.atomic import write_atomic

        try:
            write_atomic(args.output, r.path.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    meta = renderer.store.meta(r.sha256) or {}
    engines = ", ".join(r.engines)
    if r.fell_back:
        why = "; ".join(meta.get("engine_failures", [])) or "gTTS failed"
        engines += f" (fell back to {ENGINE_LABELS.get(r.engines[0], r.engines[0])}: {why})"
    print(f"engines:  {engines}")
    print(f"sha256:   {r.sha256}")
    print(f"duration: {r.duration_ms / 1000:.1f} s")
    print(f"loudness: {r.loudness_lufs:.1f} LUFS integrated, true peak {r.true_peak_dbtp:.1f} dBTP")
    print(f"bytes:    {r.bytes:,} ({r.mime})")
    print(f"cache:    {'hit (no synthesis)' if r.cache_hit else 'miss (rendered)'}")
    print(f"media:    {r.path}")
    if args.output is not None:
        print(f"output:   {args.output}")
    return 0
