"""Listening checks on rendered audio: the longest silence inside it and clipped samples.

A resident hears a silence of more than a second and a half inside an announcement as the end
of it, and a clipped sample as a crack: `tests/audio/test_unseen_render.py` and
`bench/speech_unseen.py` measure both on the decoded file, as the loudspeaker gets it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: A 20-ms window quieter than this (RMS, dB below full scale) is silence. espeak-ng's quietest
#: speech sounds sit well above it after mastering to -16 LUFS; MP3 noise sits below.
SILENCE_DBFS = -50.0
WINDOW_S = 0.02


def longest_inner_silence_s(samples: npt.NDArray[np.int16], rate: int) -> float:
    """Longest run of silent windows between the first and the last sound (lead and tail
    silences are layout, not gaps)."""
    size = max(1, int(rate * WINDOW_S))
    count = len(samples) // size
    if count == 0:
        return 0.0
    x = samples[: count * size].astype(np.float64).reshape(count, size) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=1))
    loud = rms > 10 ** (SILENCE_DBFS / 20)
    if not loud.any():
        return count * WINDOW_S
    first, last = int(np.argmax(loud)), count - int(np.argmax(loud[::-1]))
    longest = run = 0
    for is_loud in loud[first:last]:
        run = 0 if is_loud else run + 1
        longest = max(longest, run)
    return longest * size / rate


def clipped_samples(samples: npt.NDArray[np.int16]) -> int:
    """Samples at full scale (either sign): where the waveform was cut flat."""
    return int(np.count_nonzero((samples >= 32767) | (samples <= -32768)))
