"""Band-limiting for horn loudspeakers: they cannot play bass, and bass only eats their power."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import numpy.typing as npt

#: Pass band: horns roll off under ~200 Hz; 5 kHz keeps Vietnamese consonants and tones clear.
LOW_HZ = 200.0
HIGH_HZ = 5_000.0


@lru_cache(maxsize=4)
def _sos(rate: int) -> npt.NDArray[np.float64]:
    from scipy.signal import butter  # lazily: scipy.signal takes about a second to import

    return np.asarray(butter(4, [LOW_HZ, HIGH_HZ], btype="bandpass", fs=rate, output="sos"))


def band_limit(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """`x` through a 4th-order Butterworth band-pass, LOW_HZ–HIGH_HZ."""
    from scipy.signal import sosfilt

    return np.asarray(sosfilt(_sos(rate), x), dtype=np.float64)


def band_limit_int16(x: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.int16]:
    """`band_limit` of int16 samples, chunk by chunk (the filter's state carried across)."""
    from scipy.signal import sosfilt

    from audio.loudness import CHUNK, to_int16

    sos = _sos(rate)
    state = np.zeros((sos.shape[0], 2))

    def filtered() -> Iterator[npt.NDArray[np.float64]]:
        nonlocal state
        for a in range(0, len(x), CHUNK):
            y, state = sosfilt(sos, x[a : a + CHUNK].astype(np.float64) / 32768.0, zi=state)
            yield np.asarray(y, dtype=np.float64)

    return to_int16(filtered(), len(x))
