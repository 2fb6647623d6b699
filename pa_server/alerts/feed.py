"""Polled CAP feeds: one HTTP fetch with ETag/Last-Modified, and what a feed document holds.

A feed URL may serve an Atom or RSS feed whose entries embed a CAP alert or link to one, or a
single CAP document. Everything is read with `defusedxml` under the same size limit as a CAP
message; linked alerts are fetched with the same client and limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree.ElementTree import Element, tostring

import defusedxml.ElementTree as SafeET
import httpx

from pa_server.alerts import CapError, CapInvalid
from pa_server.alerts.cap import NAMESPACE, screen

ATOM = "http://www.w3.org/2005/Atom"
CAP_ALERT = f"{{{NAMESPACE}}}alert"
#: Back-off after failures: doubled each time, from the feed's interval up to this ceiling.
MAX_BACKOFF = timedelta(hours=6)
#: Redirects followed per fetch, each one checked like the URL itself.
MAX_REDIRECTS = 5
#: Raises `ValueError` for a URL the server must not read (a local or private address).
UrlCheck = Callable[[str], object]


@dataclass(frozen=True)
class Fetched:
    """One response: 304 (nothing new) or a body with its validators."""

    not_modified: bool
    body: bytes
    etag: str | None
    last_modified: str | None


def fetch(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    check: UrlCheck | None = None,
) -> Fetched:
    """GET `url` conditionally; `CapError` on a network error, an HTTP error or a huge body.

    `check` vets the URL and every redirect before it is requested (`feed_refused`): a feed,
    its links and their redirects come from outside and must not reach the server's own
    network (what was fetched is kept and shown on the alerts page).
    """
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/cap+xml, */*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        for _ in range(MAX_REDIRECTS + 1):
            _vet(check, url)
            with client.stream("GET", url, headers=headers, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(response.url.join(response.headers["location"]))
                    continue
                return _read(response, etag, last_modified, max_bytes)
        raise CapError("feed_http", f"Nguồn chuyển hướng quá {MAX_REDIRECTS} lần.")
    except httpx.HTTPError as exc:
        raise CapError(
            "feed_unreachable", f"Không kết nối được nguồn: {type(exc).__name__}."
        ) from exc


def _vet(check: UrlCheck | None, url: str) -> None:
    if check is None:
        return
    try:
        check(url)
    except ValueError as exc:
        raise CapError("feed_refused", "Địa chỉ nguồn thuộc mạng nội bộ, không được đọc.") from exc


def _read(
    response: httpx.Response, etag: str | None, last_modified: str | None, max_bytes: int
) -> Fetched:
    """The body of a final (non-redirect) response, within `max_bytes`."""
    if response.status_code == 304:
        return Fetched(True, b"", etag, last_modified)
    if response.status_code != 200:
        raise CapError("feed_http", f"Máy chủ nguồn trả lời mã {response.status_code}.")
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise CapError("feed_too_large", f"Nguồn trả về hơn {max_bytes} byte.")
    return Fetched(
        False, bytes(body), response.headers.get("ETag"), response.headers.get("Last-Modified")
    )


@dataclass(frozen=True)
class FeedEntries:
    """What a feed document holds: embedded CAP documents and links to others."""

    documents: tuple[bytes, ...]
    links: tuple[str, ...]


def _link_of(entry: Element) -> str | None:
    atom_links = entry.findall(f"{{{ATOM}}}link")
    for link in atom_links:
        if "cap" in (link.get("type") or "") and link.get("href"):
            return link.get("href")
    for link in atom_links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    rss = entry.find("link")
    if rss is not None and rss.text:
        return rss.text.strip()
    return None


def entries(body: bytes, *, max_bytes: int) -> FeedEntries:
    """Split a feed document (or a single CAP alert) into CAP documents and links to fetch."""
    try:
        screen(body, max_bytes=max_bytes)
    except CapInvalid as exc:
        raise CapError("feed_unreadable", exc.reason) from exc
    root = SafeET.fromstring(body, forbid_dtd=True)
    if root.tag == CAP_ALERT:
        return FeedEntries((body,), ())
    if root.tag == f"{{{ATOM}}}feed":
        items = root.findall(f"{{{ATOM}}}entry")
    elif root.tag == "rss":
        items = root.findall("channel/item")
    else:
        raise CapError("feed_unknown", "Nguồn không phải Atom, RSS hay một bản tin CAP.")
    documents: list[bytes] = []
    links: list[str] = []
    for item in items:
        embedded = item.find(f".//{CAP_ALERT}")
        if embedded is not None:
            documents.append(tostring(embedded, encoding="utf-8", xml_declaration=True))
            continue
        link = _link_of(item)
        if link:
            links.append(link)
    return FeedEntries(tuple(documents), tuple(links))


def next_poll(now: datetime, interval: timedelta, failures: int) -> datetime:
    """When to poll next: the interval, doubled per consecutive failure up to `MAX_BACKOFF`."""
    if failures <= 0:
        return now + interval
    backoff: timedelta = min(interval * (2 ** min(failures, 16)), max(MAX_BACKOFF, interval))
    return now + backoff
