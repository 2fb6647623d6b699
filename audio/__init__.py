"""How it sounds: TTS engines, composition, loudness, encoding, the media store.

Imports `announcements` only among our packages. `audio.RenderOptions` is the one value of
render choices shared by the pages, the API and the CLI (light: no numpy on import).
"""

from audio.options import RenderOptions

__all__ = ["RenderOptions"]
