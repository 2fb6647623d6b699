"""The server's one settings object, read from `PA_*` environment variables (or a `.env` file)."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.protocol import DEFAULT_PREFIX

#: The embedded broker's default port. Not 1883: a machine that already runs Mosquitto (or any
#: MQTT broker) holds that port, and the embedded broker must not fight it. When this port is
#: taken too, the server refuses to start and says which setting to change.
DEFAULT_EMBEDDED_BROKER_PORT = 11883


class Settings(BaseSettings):
    """Every knob of `pa-server`; validated once at start-up.

    `PA_LIVE=false` switches live audio off entirely (no snapserver child is started, the live
    pages say so in Vietnamese): for a server that only plays files, and for tests that do not
    exercise live audio, since starting a snapserver costs seconds on every start.
    """

    model_config = SettingsConfigDict(env_prefix="PA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="SQLite file, keys, media store.")
    database_url: str | None = Field(default=None, description="Default: SQLite in data_dir.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="Base URL agents fetch media from.")

    mqtt_url: str | None = Field(default=None, description="External broker; unset = embedded.")
    mqtt_username: str | None = Field(
        default=None, description="The server's broker login; embedded broker default pa-server."
    )
    mqtt_password: str | None = Field(
        default=None,
        description="Embedded broker default: made at first start, data_dir/mqtt-server-password.",
    )
    mqtt_ca_file: Path | None = None
    mqtt_client_id: str | None = Field(
        default=None,
        max_length=128,
        description="Default: pa-server-<hostname>-<HTTP port>, one per replica, stable.",
    )
    topic_prefix: str = DEFAULT_PREFIX
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=DEFAULT_EMBEDDED_BROKER_PORT, ge=1, le=65535)

    log_format: Literal["text", "json"] = Field(
        default="text", description="`json`: one JSON object per log line (ts, level, logger, msg)."
    )
    timezone: str = "Asia/Ho_Chi_Minh"
    tts_engine: str = Field(default="auto", pattern="^(auto|gtts|espeak|piper)$")
    gtts_timeout_s: float = Field(default=4.0, gt=0, le=60)
    tts_piper_model: Path | None = Field(
        default=None,
        description="A Piper voice (.onnx, its .onnx.json beside it) copied onto this server; "
        "used by engine piper and first by auto; espeak-ng speaks when it cannot (docs/audio.md).",
    )
    render_processes: int = Field(
        default=1, ge=1, le=16, description="Worker processes rendering audio (each up to ~200 MB)."
    )
    render_queue: int = Field(
        default=4, ge=0, le=100, description="Renders that may wait for a worker; more get 503."
    )
    planner_horizon_h: int = Field(default=48, ge=1, le=24 * 31)
    planner_interval_s: float = Field(default=5.0, gt=0, le=3600)
    retained_check_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="How often the server checks that the broker still holds its timelines.",
    )
    broadcast_lead_s: float = Field(
        default=8.0, ge=0, le=300, description="Immediate broadcast: start this long after 'now'."
    )
    emergency_lead_s: float = Field(
        default=3.0, ge=0, le=300, description="Immediate emergency broadcast: shorter lead."
    )
    test_kill_after_plan: bool = Field(
        default=False,
        description="FAULT TESTS ONLY: SIGKILL this process right after a replan that created "
        "occurrences is committed, before any timeline is published (tests/faults).",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest request body (bytes), refused with 413 before any parsing.",
    )
    max_upload_bytes: int = Field(
        default=26 * 1024 * 1024,
        ge=1024,
        description="Largest body of a recording upload (the 25 MiB recording and its form).",
    )
    clock_drift_threshold_s: float = Field(
        default=1.0, gt=0, description="An agent whose clock is further off is flagged."
    )
    # CAP alerts: see docs/alerts.md.
    alert_policy_file: Path | None = Field(
        default=None, description="The district's alert policy (TOML); unset = the shipped one."
    )
    cap_max_bytes: int = Field(
        default=256 * 1024, ge=1024, le=4 * 1024 * 1024, description="Largest CAP message/feed."
    )
    cap_feed_timeout_s: float = Field(default=10.0, gt=0, le=120)
    cap_feed_allowed_networks: str = Field(
        default="",
        description="Private networks a CAP feed (and the alerts it links to) may be read "
        "from, comma-separated. Empty = public addresses only.",
    )
    cap_poll_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often due CAP feeds are looked for."
    )

    # Live audio (Snapcast): see docs/live.md.
    live: bool = Field(
        default=True,
        description="False: no live audio at all, no snapserver started (a server that only "
        "plays files, and tests that do not need it: a snapserver costs seconds to start); "
        "the pages say that live is switched off.",
    )
    snapserver_url: str | None = Field(
        default=None,
        description="External snapserver's JSON-RPC control, tcp://127.0.0.1:1705 (loopback "
        "only: snapserver 0.26 has no authentication). Unset = run our own when installed.",
    )
    snapserver_fifo_dir: Path | None = Field(
        default=None,
        description="External snapserver only: directory of its pipe sources live-1…live-N.",
    )
    snapserver_binary: str = Field(default="snapserver", description="Managed snapserver.")
    snapserver_stream_bind: str = Field(
        default="127.0.0.1",
        description="Where the managed snapserver's audio port listens (0.0.0.0 for agents on "
        "the network); its control port is always on 127.0.0.1.",
    )
    snapserver_stream_port: int = Field(default=1704, ge=0, le=65535, description="0 = any.")
    snapserver_stream_host: str | None = Field(
        default=None, description="Host agents connect to; default: PA_PUBLIC_URL's host."
    )
    snapserver_streams: int = Field(
        default=4, ge=1, le=64, description="Concurrent live sessions (one pipe source each)."
    )
    snapserver_buffer_ms: int = Field(default=1000, ge=200, le=10_000)
    relay_allowed_networks: str = Field(
        default="",
        description="Private networks a relay may read from, comma-separated (10.0.0.0/8, "
        "192.168.1.20): a commune's own Icecast on its LAN. Empty = public addresses only; "
        "loopback, link-local and the server's own ports stay refused unless listed.",
    )
    snapserver_opus_bitrate: int = Field(default=64_000, ge=6_000, le=512_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("relay_allowed_networks", "cap_feed_allowed_networks")
    @classmethod
    def _networks(cls, v: str) -> str:
        from pa_server.live.relay_guard import parse_networks

        parse_networks(v)  # raises ValueError naming the entry that is not a network
        return v

    @field_validator("snapserver_url")
    @classmethod
    def _loopback_control(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from pa_server.live.control import parse_control_url

        parse_control_url(v)  # raises ValueError for anything but tcp://<loopback>:<port>
        return v

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pa.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_mqtt_client_id(self) -> str:
        """The server's MQTT client id: `PA_MQTT_CLIENT_ID`, else per host and HTTP port.

        Two replicas must never share an id (the broker would disconnect one for the other,
        over and over), and one replica must keep its id across restarts (its persistent
        session holds the receipts queued while it was down). Two servers on one host cannot
        listen on one port, so host + port is both unique and stable.
        """
        if self.mqtt_client_id:
            return self.mqtt_client_id
        return f"pa-server-{socket.gethostname()[:40]}-{self.port}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def recordings_dir(self) -> Path:
        """Operators' uploaded recordings, content-addressed."""
        return self.data_dir / "recordings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()
