"""The loudspeaker agent and the wire protocol (`devices.protocol`), installable on a Raspberry Pi
without any server dependency."""

__version__ = "0.1.0"
