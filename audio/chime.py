"""The attention chime: bell strokes synthesised from the parameters in `chime.toml`."""

from __future__ import annotations

import hashlib
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from audio.pcm import Pcm

CHIME_FILE = Path(__file__).with_name("chime.toml")


@lru_cache(maxsize=4)
def _params(path: Path) -> tuple[dict[str, Any], str]:
    raw = path.read_bytes()
    return tomllib.loads(raw.decode()), hashlib.sha256(raw).hexdigest()


def chime_fingerprint(path: Path = CHIME_FILE) -> str:
    """Hash of the chime parameters (part of every render cache key)."""
    return _params(path)[1]


@lru_cache(maxsize=8)
def make_chime(rate: int, path: Path = CHIME_FILE) -> Pcm:
    """Render the chime at `rate` Hz."""
    p, _ = _params(path)
    ring_s, attack_s, fade_s = float(p["ring_s"]), float(p["attack_s"]), float(p["fade_s"])
    end_s = max(float(s["at_s"]) for s in p["strokes"]) + ring_s
    out = np.zeros(round(end_s * rate))
    t = np.arange(round(ring_s * rate)) / rate
    envelope = np.minimum(1.0, t / attack_s) * np.minimum(1.0, (ring_s - t) / fade_s)
    for stroke in p["strokes"]:
        f0 = float(stroke["freq_hz"])
        note = np.zeros_like(t)
        for part in p["partials"]:
            freq = f0 * float(part["ratio"])
            if freq >= rate / 2:
                continue  # above Nyquist at this rate: would alias into a wrong tone
            decay = np.exp(-t / float(part["decay_s"]))
            note += float(part["gain"]) * decay * np.sin(2 * np.pi * freq * t)
        start = round(float(stroke["at_s"]) * rate)
        out[start : start + len(t)] += note * envelope
    peak = float(np.max(np.abs(out))) or 1.0
    return Pcm.from_float(out * (10 ** (float(p["peak_dbfs"]) / 20) / peak), rate)
