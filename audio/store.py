"""Content-addressed media store (`<sha256>.<ext>` + `<sha256>.json`) and the render cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from audio.atomic import write_atomic
from audio.errors import BadRequest

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")


def _checked(sha256: str, ext: str | None = None) -> None:
    # these names become file paths: refuse anything that could step outside the store
    if not _SHA256.match(sha256):
        raise BadRequest(f"not a sha256 hex digest: {sha256!r}")
    if ext is not None and not _EXT.match(ext):
        raise BadRequest(f"bad media extension: {ext!r}")


class MediaStore:
    """Immutable media files named by the sha256 of their bytes, each with a JSON sidecar."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir

    def path(self, sha256: str, ext: str) -> Path:
        """Where the media file with this digest and extension lives."""
        _checked(sha256, ext)
        return self.media_dir / f"{sha256}.{ext}"

    def exists(self, sha256: str, ext: str) -> bool:
        """True when both the file and its metadata are stored."""
        return self.path(sha256, ext).is_file() and (self.media_dir / f"{sha256}.json").is_file()

    def meta(self, sha256: str) -> dict[str, Any] | None:
        """The metadata of a stored file, or None."""
        _checked(sha256)
        try:
            data = json.loads((self.media_dir / f"{sha256}.json").read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable media metadata %s: %s", sha256, exc)
            return None
        return data if isinstance(data, dict) else None

    def put(self, data: bytes, ext: str, meta: dict[str, Any]) -> str:
        """Store `data` and its metadata atomically (file first, sidecar last); return sha256."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha, ext)
        meta_path = self.media_dir / f"{sha}.json"
        existed = path.is_file()
        if not existed:
            write_atomic(path, data)
        try:
            body = json.dumps({"sha256": sha, "ext": ext, **meta}, ensure_ascii=False, indent=1)
            write_atomic(meta_path, body.encode())
        except BaseException:
            if not existed:  # no media file without its metadata
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        return sha

    @contextlib.contextmanager
    def writing(self) -> Iterator[HashingWriter]:
        """A temporary file in the store to stream a new media file into (removed unless kept).

        Pass the writer to `put_file` once complete; any exception before that removes it.
        """
        self.media_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.media_dir / f".{uuid.uuid4().hex}.part"
        try:
            with tmp.open("wb") as f:
                yield HashingWriter(f, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put_file(self, written: HashingWriter, ext: str, meta: dict[str, Any]) -> str:
        """Move a complete streamed file into the store under its digest, then its metadata."""
        sha = written.hexdigest()
        path = self.path(sha, ext)
        existed = path.is_file()
        written.file.flush()
        os.fsync(written.file.fileno())
        if not existed:
            written.path.replace(path)
        try:
            body = json.dumps({"sha256": sha, "ext": ext, **meta}, ensure_ascii=False, indent=1)
            write_atomic(self.media_dir / f"{sha}.json", body.encode())
        except BaseException:
            if not existed:  # no media file without its metadata
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        return sha


class HashingWriter:
    """A binary file that hashes (sha256) and counts what is written through it."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        self.file = file
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        """Write and hash `data`."""
        self._hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def restart(self) -> None:
        """Empty the file to write it again (a second mastering pass)."""
        self.file.seek(0)
        self.file.truncate()
        self.size = 0
        self._hash = hashlib.sha256()

    def fileno(self) -> int:
        """The file's descriptor (a subprocess encoder writes to it directly: not hashed)."""
        return self.file.fileno()

    def hexdigest(self) -> str:
        """sha256 of the file as written (re-read when a subprocess wrote it directly)."""
        if self.size == 0:
            self.file.flush()
            h = hashlib.sha256()
            with self.path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
                    self.size += len(block)
            self._hash = h
        return self._hash.hexdigest()


class RenderCache:
    """Render key (hash of everything that shapes the sound) → stored media digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str) -> tuple[str, str] | None:
        """(sha256, ext) stored for `key`, or None."""
        try:
            entry = json.loads((self.root / f"{key}.json").read_text("utf-8"))
            return str(entry["sha256"]), str(entry["ext"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring damaged render cache entry %s: %s", key, exc)
            return None

    def put(self, key: str, sha256: str, ext: str) -> None:
        """Remember that `key` rendered to (sha256, ext)."""
        write_atomic(self.root / f"{key}.json", json.dumps({"sha256": sha256, "ext": ext}).encode())
