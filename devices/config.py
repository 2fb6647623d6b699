"""The agent's settings: one TOML file (`/etc/pa-device/config.toml`), validated at start-up.

Environment variables `PA_DEVICE_<SECTION>__<FIELD>` (e.g. `PA_DEVICE_MQTT__PASSWORD`) override
single fields of the file, so a secret can come from a systemd credential instead of the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devices import protocol
from devices.errors import ConfigError

ENV_PREFIX = "PA_DEVICE_"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceSection(_Section):
    id: str
    zone: str

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _checked(protocol.validate_device_id, v)

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _checked(protocol.validate_zone_path, v)


def _checked(check: Callable[[str], str], value: str) -> str:
    """Run a protocol name check, turning its error into the ValueError pydantic reports."""
    try:
        return check(value)
    except protocol.MalformedMessage as exc:
        raise ValueError(str(exc)) from exc


class MqttSection(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("mqtt://") or v.startswith("mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://")
        return v


class ServerSection(_Section):
    url: str
    public_keys: dict[str, str] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("public_keys")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        for kid, text in v.items():
            protocol.load_public_key_b64(text)  # raises ValueError naming the problem
            if not kid:
                raise ValueError("key id must not be empty")
        return v


class PathsSection(_Section):
    state_dir: Path = Path("/var/lib/pa-device")


class PlayerSection(_Section):
    kind: Literal["alsa", "file", "null"] = "alsa"
    output_dir: Path | None = None
    device: str | None = None
    #: The last stretch before `play_at` is waited by busy-polling the monotonic clock.
    spin_s: float = Field(default=0.002, ge=0, le=0.05)
    #: Decode this long before `play_at`, so the start costs nothing but opening the stream.
    prepare_s: float = Field(default=5.0, ge=0.5, le=300)


class RelaySection(_Section):
    pin: int | str | None = None
    pre_roll_s: float = Field(default=3.0, ge=0, le=120)
    post_roll_s: float = Field(default=5.0, ge=0, le=600)
    active_high: bool = True


class LiveSection(_Section):
    """Live items (PROTOCOL v2 `live`): the `snapclient` the agent runs while one is due. Its
    output is the player's: the same sound card (`player.device`), or `<output_dir>/live.raw`
    for the file player."""

    #: The snapclient executable (Debian/Raspberry Pi OS package `snapclient`).
    binary: str = "snapclient"
    #: snapclient's `--latency`: how many ms the sound card's own delay is (PCM device latency).
    latency_ms: int = Field(default=0, ge=0, le=10_000)


class CacheSection(_Section):
    max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)


class FetchSection(_Section):
    #: Far-off items are fetched after a random delay of at most this, to spread the load.
    spread_s: float = Field(default=600.0, ge=0)
    #: The media must be in hand this long before `play_at`; the spread never eats into it.
    margin_s: float = Field(default=120.0, ge=0)
    #: Connecting, and each read, may take at most this long.
    timeout_s: float = Field(default=15.0, gt=0)
    #: Downloads run side by side on this many threads: one slow file holds up no other.
    workers: int = Field(default=3, ge=1, le=16)
    #: A download slower than this (bytes/s) over any `rate_window_s` is abandoned (retried
    #: later): a total timeout alone let a server sending a byte a second hold it for minutes.
    min_rate_bps: float = Field(default=2048.0, ge=0)
    rate_window_s: float = Field(default=10.0, gt=0)
    backoff_initial_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    #: After this many failed attempts a `failed` receipt is sent (retries go on until too late).
    fail_after: int = Field(default=5, ge=1)
    seed: int | None = None


class ClockSection(_Section):
    #: How often the offset to the server is measured.
    check_interval_s: float = Field(default=600.0, ge=1)
    #: An offset larger than this means the system clock is not to be trusted as it is.
    max_offset_s: float = Field(default=2.0, gt=0)
    #: A measurement at least this precise may correct the clock the agent plays by.
    max_error_s: float = Field(default=0.05, gt=0, le=1)
    #: SIMULATION AND TESTS ONLY: pretend the system clock is this many seconds ahead
    #: (negative: behind). The kernel's NTP verdict is then ignored, since it is about the
    #: real clock. Never set it on a real loudspeaker.
    simulate_skew_s: float = 0.0


class AgentConfig(_Section):
    """Everything one agent needs; see `deploy/config.example.toml`."""

    device: DeviceSection
    mqtt: MqttSection = MqttSection()
    server: ServerSection
    topic_prefix: str = protocol.DEFAULT_PREFIX
    paths: PathsSection = PathsSection()
    player: PlayerSection = PlayerSection()
    relay: RelaySection = RelaySection()
    live: LiveSection = LiveSection()
    cache: CacheSection = CacheSection()
    fetch: FetchSection = FetchSection()
    clock: ClockSection = ClockSection()
    state_interval_s: float = Field(default=60.0, ge=1)
    #: How often the agent pulls its timelines from the server over HTTP (also at start and
    #: after every reconnect): the broker's retained copies are only a cache.
    pull_interval_s: float = Field(default=300.0, ge=1)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The server keys envelopes are verified with, by key id."""
        return {k: protocol.load_public_key_b64(v) for k, v in self.server.public_keys.items()}


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, field = name[len(ENV_PREFIX) :].lower().partition("__")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"{name}: [{section}] is not a table")
        data[section][field] = value
    return data


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, naming the field as it is written in the file (`mqtt.url`)."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<file>"
        msg = "missing" if err["type"] == "missing" else err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def config_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> AgentConfig:
    """Validate a parsed config (plus env overrides) or raise `ConfigError` naming each field."""
    merged = _apply_env(
        {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}, env or {}
    )
    try:
        return AgentConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {describe_errors(exc)}") from exc


def load_config(path: Path, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and validate the TOML file at `path` (env overrides from `os.environ` by default)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return config_from_mapping(data, os.environ if env is None else env)
