"""How it sounds: TTS engines, composition, loudness, encoding, the media store.

Imports `announcements` only among our packages.
"""
