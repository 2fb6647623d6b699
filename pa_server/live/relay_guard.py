"""Which relay URLs the server may hand to ffmpeg: http(s) to public addresses only.

The same address rule guards the CAP feeds the server polls (`PA_CAP_FEED_ALLOWED_NETWORKS`).

ffmpeg opens far more than radio streams: local files (`file:`, a bare path), `concat:`,
`subfile:`, `data:`, `pipe:`, and any address the server itself can reach — its own HTTP
port, the snapserver's control port, a cloud's metadata service at 169.254.169.254. Sound
made from any of those is unauthorised sound on public loudspeakers, so a relay URL is
checked three times — when a relay is created, when its session starts, and before every
ffmpeg (re)connect — and ffmpeg itself runs with a protocol and a format whitelist
(`RelaySource.command`), which also covers what the URL cannot show: an HLS playlist naming
`file:` segments or keys, a concat list, a redirect to `file:`.

Addresses: a name must resolve only to public (global unicast) addresses, unless the
district lists a private network in `PA_RELAY_ALLOWED_NETWORKS` (a commune's own Icecast on
its LAN). A name that does not resolve now is let through here — ffmpeg cannot reach it
either — and checked again before each connect. What this cannot see: an HTTP redirect from
a public server to a private address (ffmpeg follows it), and a DNS answer that changes
between the check and ffmpeg's own lookup; see docs/live.md.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host name → the addresses it resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str], list[str]]

#: What ffmpeg may open while relaying: the network protocols of HTTP(S) radio and HLS
#: (`crypto` for AES-128 HLS segments). Not `file`, `pipe`, `concat`, `subfile`, `data`, ….
PROTOCOL_WHITELIST = "http,https,tls,tcp,crypto,httpproxy"
#: Demuxers a radio stream needs: MP3/AAC (Icecast), HLS with its TS/fMP4 segments, Ogg,
#: Matroska/WebM, FLAC, WAV. Not `concat` (a list of other URLs), images or playlists.
FORMAT_WHITELIST = "mp3,aac,hls,mpegts,ogg,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,flac,wav"


class RelayRefused(ValueError):
    """A relay URL the server will not open; `code` is the API's refusal code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_relay_syntax(url: str) -> str:
    """`url` if it is a plain http(s) URL with a host; `RelayRefused('bad_source_url')`."""
    # Control characters and spaces would reach ffmpeg's request line (header injection);
    # non-ASCII hosts hide look-alikes. A real stream URL has neither (IRIs are %-encoded).
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise RelayRefused("bad_source_url", "a relay URL is plain ASCII, without spaces")
    parts = urlsplit(url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise RelayRefused("bad_source_url", f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise RelayRefused("bad_source_url", f"a relay source must be an http(s) URL, not {url!r}")
    return url


def system_resolve(host: str) -> list[str]:
    """The addresses `host` resolves to, as ffmpeg would find them (getaddrinfo)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def parse_networks(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """`"10.0.0.0/8, 192.168.1.20"` → networks; ValueError names the bad entry."""
    items = text.split(",") if isinstance(text, str) else list(text)
    nets = []
    for item in (i.strip() for i in items):
        if item:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"not a network: {item!r}") from exc
    return tuple(nets)


@dataclass(frozen=True)
class RelayGuard:
    """The address policy for relays: public addresses, plus the networks listed."""

    allowed: tuple[IPNetwork, ...] = ()
    resolve: Resolver = field(default=system_resolve, compare=False)
    #: The setting that lists `allowed`, named in refusals (CAP feeds have their own).
    setting: str = "PA_RELAY_ALLOWED_NETWORKS"

    def check(self, url: str) -> str:
        """`url` if the server may relay it now; `RelayRefused` says why not."""
        check_relay_syntax(url)
        host = urlsplit(url).hostname or ""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolve(host)]
            except OSError:
                return url  # not resolvable now: ffmpeg cannot reach it either
        for address in addresses:
            if not self.permits(address):
                raise RelayRefused(
                    "relay_host_refused",
                    f"{host} is {address}, not a public address; a private network must "
                    f"be listed in {self.setting} to be read",
                )
        return url

    def permits(self, address: IPAddress) -> bool:
        """True for a global unicast address or one inside an allowed network."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.allowed):
            return True
        return address.is_global and not address.is_multicast


__all__ = [
    "FORMAT_WHITELIST",
    "PROTOCOL_WHITELIST",
    "RelayGuard",
    "RelayRefused",
    "check_relay_syntax",
    "parse_networks",
    "system_resolve",
]
