"""Live audio on Snapcast: relayed radio and live speech, in sync on every loudspeaker.

`engine.LiveEngine` is the interface (`SnapcastEngine` real, `FakeLiveEngine` for tests);
`snapserver` runs our own snapserver, `control` talks to its JSON-RPC, `sources` makes the
sound (relay through ffmpeg, microphone pushed in), `feed` writes it into the stream's pipe and
the recording. Nothing here is wired into the services yet: see docs/live.md.
"""
