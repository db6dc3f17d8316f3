"""Blob storage for videos, renders, thumbnails and transcripts.

`BlobStore` is the interface; `LocalBlobStore` keeps blobs in a folder (default
`<data_dir>/blobs`). Writes are atomic (a temporary file in the same folder, then
`os.replace`), reads and writes are streamed in chunks, and keys are deterministic paths
chosen by the caller (`projects/{id}/clips/{clip_id}/{hash}.mp4`), so a retried job
overwrites the same blob instead of adding one. Resumable uploads append to a part file
that is committed (renamed) to its key when complete.

An S3-compatible store can implement the same Protocol (multipart uploads for parts, a
download to a temporary file for `local_file`); it is not written yet.

Downloads are served by the API at `/api/v1/blobs/{key}?expires=..&sig=..`: the URL is
signed with HMAC-SHA256 (settings.secrets.signing_secret) and expires.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from reelflow.errors import ConfigurationError, Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from reelflow.settings import Settings, get_settings
from reelflow.storage.crypto import dev_secret

CHUNK_SIZE = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


def check_key(key: str) -> str:
    """Keys are relative paths of safe segments; no `..`, no absolute paths."""
    if len(key) > 500 or not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise InvalidInput(f"not a valid blob key: {key!r}", field="key")
    return key


@runtime_checkable  # a Litestar dependency type: checked with isinstance
class BlobStore(Protocol):
    async def write_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int: ...

    async def write_bytes(self, key: str, data: bytes) -> int: ...

    async def put_file(self, key: str, path: Path) -> int: ...

    def read_stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]: ...

    async def read_bytes(self, key: str) -> bytes: ...

    async def size(self, key: str) -> int | None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    def local_file(self, key: str) -> contextlib.AbstractAsyncContextManager[Path]: ...

    async def part_size(self, upload_id: uuid.UUID) -> int: ...

    async def append_part(
        self, upload_id: uuid.UUID, offset: int, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> int: ...

    async def commit_part(self, upload_id: uuid.UUID, key: str) -> int: ...

    async def discard_part(self, upload_id: uuid.UUID) -> None: ...


class LocalBlobStore:
    """Blobs as files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts = root / ".parts"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _temp_for(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int:
        """Stream `chunks` into `key` atomically; PayloadTooLarge past `max_bytes` (nothing kept)."""
        target = self.path(key)
        temp = await anyio.to_thread.run_sync(self._temp_for, target)
        written = 0
        try:
            async with await anyio.open_file(temp, "wb") as handle:
                async for chunk in chunks:
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
                    await handle.write(chunk)
                await handle.flush()
                await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
            await anyio.to_thread.run_sync(os.replace, temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        return written

    async def write_bytes(self, key: str, data: bytes) -> int:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.write_stream(key, one())

    async def put_file(self, key: str, path: Path) -> int:
        """Copy a finished local file into the store (atomically)."""
        target = self.path(key)

        def copy() -> int:
            temp = self._temp_for(target)
            try:
                shutil.copyfile(path, temp)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                raise
            return target.stat().st_size

        return await anyio.to_thread.run_sync(copy)

    async def read_stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            handle = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"no blob {key}") from None
        async with handle:
            while chunk := await handle.read(chunk_size):
                yield chunk

    async def read_bytes(self, key: str) -> bytes:
        try:
            return await anyio.Path(self.path(key)).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {key}") from None

    async def size(self, key: str) -> int | None:
        try:
            return (await anyio.Path(self.path(key)).stat()).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(self.path(key)).unlink()

    async def delete_prefix(self, prefix: str) -> None:
        folder = self.path(prefix.rstrip("/"))
        await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, folder, ignore_errors=True))

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        """A path ffmpeg can read; for local blobs, the blob itself (do not modify it)."""
        path = self.path(key)
        if not await anyio.Path(path).exists():
            raise NotFound(f"no blob {key}")
        yield path

    # --- resumable uploads ---------------------------------------------------------------
    def _part(self, upload_id: uuid.UUID) -> Path:
        return self.parts / f"{upload_id}.part"

    async def part_size(self, upload_id: uuid.UUID) -> int:
        try:
            return (await anyio.Path(self._part(upload_id)).stat()).st_size
        except FileNotFoundError:
            return 0

    async def append_part(
        self, upload_id: uuid.UUID, offset: int, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> int:
        """Append `chunks` at `offset` (which must be the part's current size) and return the new
        size. Bytes are flushed as they arrive, so a connection that drops halfway keeps what
        was received and the client resumes from there. Stops with PayloadTooLarge past `max_bytes`."""
        path = self._part(upload_id)
        await anyio.to_thread.run_sync(functools.partial(path.parent.mkdir, parents=True, exist_ok=True))
        async with await anyio.open_file(path, "ab") as handle:
            try:  # one writer per upload: a second concurrent chunk is refused, not interleaved
                fcntl.flock(handle.wrapped.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict("another chunk of this upload is being received; retry when it has finished") from None
            size = await handle.tell()
            if size != offset:
                raise InvalidInput(f"the upload has {size} bytes; send the range starting at {size}")
            try:
                async for chunk in chunks:
                    if size + len(chunk) > max_bytes:
                        keep = max_bytes - size
                        await handle.write(chunk[:keep])
                        size += keep
                        raise PayloadTooLarge(f"more bytes than declared ({max_bytes})")
                    await handle.write(chunk)
                    size += len(chunk)
            finally:
                await handle.flush()
                await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
        return size

    async def commit_part(self, upload_id: uuid.UUID, key: str) -> int:
        """Move a complete part to its key (a rename: no copy of the bytes)."""
        part = self._part(upload_id)
        target = self.path(key)

        def move() -> int:
            if not part.exists():
                if target.exists():  # committed already (a retried completion)
                    return target.stat().st_size
                raise NotFound(f"no upload data for {upload_id}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, target)
            return target.stat().st_size

        return await anyio.to_thread.run_sync(move)

    async def discard_part(self, upload_id: uuid.UUID) -> None:
        with contextlib.suppress(FileNotFoundError):
            await anyio.Path(self._part(upload_id)).unlink()


def blobs_root(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    if settings.blobs.dir is not None:
        return settings.blobs.dir.expanduser().resolve()
    return settings.resolved_data_dir / "blobs"


@functools.lru_cache(maxsize=4)
def _store_for(root: Path) -> LocalBlobStore:
    root.mkdir(parents=True, exist_ok=True)
    return LocalBlobStore(root)


def get_blob_store() -> LocalBlobStore:
    """The configured store (local folder; an S3 store would be chosen here by settings)."""
    return _store_for(blobs_root())


# --- signing ----------------------------------------------------------------------------


def signing_secret(settings: Settings | None = None) -> bytes:
    """settings.secrets.signing_secret; outside production, a secret generated once into the data folder."""
    settings = settings or get_settings()
    if settings.secrets.signing_secret:
        return settings.secrets.signing_secret.encode()
    if settings.is_production:
        raise ConfigurationError("REELFLOW_SECRETS__SIGNING_SECRET must be set in production")
    return dev_secret(settings, "signing.key", lambda: secrets.token_hex(32).encode()).encode()


def _blob_signature(key: str, expires: int) -> str:
    return hmac.new(signing_secret(), f"blob\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_blob_path(key: str, *, ttl_s: int | None = None, now: float | None = None) -> str:
    """`/api/v1/blobs/{key}?expires=..&sig=..` for a download that expires after `ttl_s`."""
    ttl = ttl_s if ttl_s is not None else get_settings().blobs.url_ttl_s
    expires = int((now if now is not None else time.time()) + ttl)
    sig = _blob_signature(check_key(key), expires)
    return f"/api/v1/blobs/{quote(key)}?" + urlencode({"expires": expires, "sig": sig})


def verify_blob_signature(key: str, expires: int, sig: str, *, now: float | None = None) -> None:
    """Raises Forbidden unless `sig` signs `key` until `expires` and that is still ahead
    (a non-ASCII, overlong or out-of-range value is simply not a valid signature)."""
    if len(sig) != 64 or not sig.isascii() or not 0 <= expires < 10**12:
        raise Forbidden("the download link's signature is not valid")
    try:
        key = check_key(key)
    except InvalidInput:
        raise NotFound("no such file") from None
    if not hmac.compare_digest(_blob_signature(key, expires).encode(), sig.encode()):
        raise Forbidden("the download link's signature is not valid")
    if expires < (now if now is not None else time.time()):
        raise Forbidden("the download link has expired; ask the API for a new one")
