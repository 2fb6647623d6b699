"""How it sounds: TTS engines, composition, loudness, encoding and the content-addressed media store."""
