"""Band-limiting for horn loudspeakers: they cannot play bass, and bass only eats their power."""

from __future__ import annotations

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
