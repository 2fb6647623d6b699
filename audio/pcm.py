"""Pcm: 16-bit mono samples with their rate, the one audio value passed between our modules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: The one sample rate of everything we compose and publish: espeak-ng's own (no resampling on
#: the offline path); gTTS's 24 kHz loses nothing a horn loudspeaker can play.
OUTPUT_RATE = 22_050


@dataclass(frozen=True)
class Pcm:
    """Signed 16-bit little-endian mono samples at `rate` Hz."""

    samples: bytes
    rate: int

    @property
    def frames(self) -> int:
        """Number of samples."""
        return len(self.samples) // 2

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.rate

    def to_float(self) -> npt.NDArray[np.float64]:
        """Samples as floats in [-1, 1)."""
        return np.frombuffer(self.samples, dtype="<i2").astype(np.float64) / 32768.0

    @classmethod
    def from_float(cls, x: npt.NDArray[np.float64], rate: int) -> Pcm:
        """Pcm from floats in [-1, 1] (clipped, rounded)."""
        ints = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
        return cls(ints.tobytes(), rate)
