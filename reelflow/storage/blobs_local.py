"""Blobs: `LocalBlobStore`, blobs as files in a folder (atomic writes, part files for
resumable uploads). See `reelflow.storage.blobs`."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread

from reelflow.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from reelflow.storage.blobs_base import CHUNK_SIZE, check_key


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
