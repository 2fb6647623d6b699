"""Hostile relay sources on ffmpeg itself: what a URL check cannot see (an HLS playlist
naming local files, a DNS answer that changes) makes no sound (the use cases' refusals:
tests/pa_server/services/test_hostile_relay_urls.py)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.encode import find_ffmpeg
from pa_server.live.feed import PcmSink
from pa_server.live.relay_guard import RelayGuard, RelayRefused
from pa_server.live.sources import RelayPolicy, RelaySource
from tests.live_support import LOCAL_RADIO, require_ffmpeg, wait_for


def test_the_system_resolver_sees_numeric_and_local_host_names() -> None:
    guard = RelayGuard()
    for url in ("http://2130706433/", "http://127.1/", "http://localhost/", "http://0/"):
        with pytest.raises(RelayRefused) as refused:
            guard.check(url)
        assert refused.value.code == "relay_host_refused", url
    assert guard.check("http://radio.test/a.mp3") == "http://radio.test/a.mp3"  # no address


def test_ffmpeg_may_open_network_protocols_and_audio_formats_only() -> None:
    require_ffmpeg()
    cmd = RelaySource("http://radio.test/a.mp3").command()
    protocols = cmd[cmd.index("-protocol_whitelist") + 1].split(",")
    formats = cmd[cmd.index("-format_whitelist") + 1]
    assert cmd.index("-protocol_whitelist") < cmd.index("-i")
    for banned in ("file", "pipe", "concat", "subfile", "data", "fd", "unix"):
        assert banned not in protocols
    assert "concat" not in formats.split(",") and "hls" in formats.split(",")


class _Collect(PcmSink):
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, pcm: bytes) -> None:
        self.bytes += len(pcm)


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on a free loopback port serving `tmp_path/www`."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _local_tone(path: Path) -> None:
    exe = find_ffmpeg()
    assert exe is not None
    subprocess.run(
        [exe, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=2", "-c:a", "aac", "-f", "mpegts", str(path), "-y"],
        check=True,
    )  # fmt: skip


@pytest.mark.parametrize("segment", ["file:{secret}", "{secret}", "concat:{secret}"])
def test_an_hls_playlist_naming_local_files_makes_no_sound(
    http_dir: tuple[str, Path], tmp_path: Path, segment: str
) -> None:
    """The URL is a harmless http playlist; its segments are the server's own files."""
    require_ffmpeg()
    base, root = http_dir
    secret = tmp_path / "secret.ts"
    _local_tone(secret)
    (root / "list.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n"
        f"{segment.format(secret=secret)}\n#EXT-X-ENDLIST\n"
    )
    ended: list[tuple[str, str | None]] = []
    policy = RelayPolicy(max_attempts=1, give_up_s=5, stall_s=5, io_timeout_s=5)
    relay = RelaySource(f"{base}/list.m3u8", guard=LOCAL_RADIO, policy=policy)
    sink = _Collect()
    relay.start(sink, lambda outcome, detail: ended.append((outcome, detail)))
    assert wait_for(lambda: bool(ended), timeout=60)
    relay.stop()
    assert ended[0][0] == "failed" and sink.bytes == 0


def test_a_name_that_turns_private_after_the_check_is_refused_before_ffmpeg_runs() -> None:
    """Each (re)connect checks the address again: a DNS answer changed to 127.0.0.1 after
    creation ends the session instead of reaching the server's own ports."""
    require_ffmpeg()
    answers = {"radio.example": ["93.184.216.34"]}
    guard = RelayGuard(resolve=lambda host: answers[host])
    relay = RelaySource("http://radio.example/live", guard=guard)
    answers["radio.example"] = ["127.0.0.1"]
    ended: list[tuple[str, str | None]] = []
    relay.start(_Collect(), lambda outcome, detail: ended.append((outcome, detail)))
    assert wait_for(lambda: bool(ended), timeout=30)
    relay.stop()
    assert ended[0][0] == "failed" and "refused" in (ended[0][1] or "")
    assert relay.attempts == 0
