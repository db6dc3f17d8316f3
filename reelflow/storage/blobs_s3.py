"""Blobs: `S3BlobStore`, blobs as objects in an S3-compatible bucket (obstore). See
`reelflow.storage.blobs`."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from reelflow.errors import ConfigurationError, Conflict, InvalidInput, NotFound, PayloadTooLarge
from reelflow.storage.blobs_base import CHUNK_SIZE, PART_OBJECT_BYTES, check_key

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".wav": "audio/wav",
}


def _attributes(key: str) -> dict[str, str]:
    """Content-Type by extension, so presigned downloads are served with the right type."""
    return {"Content-Type": CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")}


class S3BlobStore:
    """Blobs as objects in an S3-compatible bucket, under `prefix` (obstore, async)."""

    def __init__(self, store: Any, *, bucket: str, prefix: str, temp_dir: Path,
                 public_store: Any | None = None) -> None:  # fmt: skip
        self.store = store
        self.bucket = bucket
        self.prefix = prefix
        self.temp_dir = temp_dir
        self._public = public_store or store

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        public_endpoint: str | None = None,
        temp_dir: Path,
    ) -> S3BlobStore:
        """`s3://bucket/prefix`; credentials and region from the arguments, else `AWS_*`."""
        from obstore.store import S3Store

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigurationError("REELFLOW_BLOB_URL must look like s3://bucket/prefix or file:///path")
        bucket, prefix = parts.netloc, parts.path.strip("/")

        def make(host: str | None) -> Any:
            config: dict[str, Any] = {}
            if host:
                config["endpoint"] = host.rstrip("/")
                config["virtual_hosted_style_request"] = False
            if access_key_id:
                config["access_key_id"] = access_key_id
            if secret_access_key:
                config["secret_access_key"] = secret_access_key
            config["region"] = (
                region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ("us-east-1")
            )
            client_options = {"allow_http": True} if host and host.startswith("http://") else {}
            return S3Store(bucket, prefix=prefix or None, client_options=client_options,  # type: ignore[arg-type]
                           retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30),
                                         "backoff": {"init_backoff": timedelta(milliseconds=100),
                                                     "max_backoff": timedelta(seconds=5), "base": 2}},
                           **config)  # fmt: skip

        store = make(endpoint)
        public = make(public_endpoint) if public_endpoint else None
        return cls(store, bucket=bucket, prefix=prefix, temp_dir=temp_dir, public_store=public)

    # --- objects ---------------------------------------------------------------------------
    async def write_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int:
        """Stream `chunks` into `key` (multipart); nothing is kept if the stream fails or passes
        `max_bytes` (PayloadTooLarge)."""
        import obstore

        written = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal written
            async for chunk in chunks:
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
                if chunk:
                    yield bytes(chunk)

        await obstore.put_async(self.store, check_key(key), counted(), attributes=_attributes(key))
        return written

    async def write_bytes(self, key: str, data: bytes) -> int:
        import obstore

        await obstore.put_async(self.store, check_key(key), data, attributes=_attributes(key))
        return len(data)

    async def put_file(self, key: str, path: Path) -> int:
        async def chunks() -> AsyncIterator[bytes]:
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(CHUNK_SIZE * 8):
                    yield chunk

        return await self.write_stream(key, chunks())

    async def _get(self, key: str) -> Any:
        import obstore

        try:
            return await obstore.get_async(self.store, key)
        except FileNotFoundError:
            raise NotFound(f"no blob {key}") from None

    async def read_stream(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        result = await self._get(check_key(key))
        async for chunk in result.stream(min_chunk_size=chunk_size):
            yield bytes(chunk)

    async def read_bytes(self, key: str) -> bytes:
        result = await self._get(check_key(key))
        return bytes(await result.bytes_async())

    async def size(self, key: str) -> int | None:
        import obstore

        try:
            meta = await obstore.head_async(self.store, check_key(key))
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        import obstore

        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self.store, check_key(key))

    async def _keys_under(self, prefix: str) -> list[tuple[str, int]]:
        import obstore

        found: list[tuple[str, int]] = []
        async for batch in obstore.list(self.store, prefix=prefix, chunk_size=1000):
            found += [(str(meta["path"]), int(meta["size"])) for meta in batch]
        return found

    async def _delete_many(self, keys: list[str]) -> None:
        import obstore

        for start in range(0, len(keys), 1000):
            with contextlib.suppress(FileNotFoundError):
                await obstore.delete_async(self.store, keys[start : start + 1000])

    async def delete_prefix(self, prefix: str) -> None:
        folder = check_key(prefix.rstrip("/")) + "/"
        await self._delete_many([key for key, _ in await self._keys_under(folder)])

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        """The blob downloaded to a temporary file (removed afterwards), for ffmpeg."""
        suffix = Path(check_key(key)).suffix
        await anyio.Path(self.temp_dir).mkdir(parents=True, exist_ok=True)
        temp = self.temp_dir / f"blob-{uuid.uuid4().hex}{suffix}"
        try:
            async with await anyio.open_file(temp, "wb") as handle:
                async for chunk in self.read_stream(key, chunk_size=CHUNK_SIZE * 4):
                    await handle.write(chunk)
            yield temp
        finally:
            with contextlib.suppress(FileNotFoundError):
                await anyio.Path(temp).unlink()

    def presigned_get(self, key: str, ttl_s: int) -> str:
        """A GET URL that works without credentials until it expires (no I/O)."""
        import obstore

        return str(obstore.sign(self._public, "GET", check_key(key), timedelta(seconds=ttl_s)))

    def presigned_part_put(self, upload_id: uuid.UUID, offset: int, ttl_s: int) -> str:
        """A PUT URL for the piece of upload `upload_id` that starts at `offset` (direct upload:
        the client sends the bytes to the bucket; `part_size`/`commit_part` see them like
        pieces received through the API). No I/O."""
        import obstore

        path = f"{self._part_prefix(upload_id)}{offset:015d}"
        return str(obstore.sign(self._public, "PUT", path, timedelta(seconds=ttl_s)))

    # --- resumable uploads ---------------------------------------------------------------
    @staticmethod
    def _part_prefix(upload_id: uuid.UUID) -> str:
        return f".parts/{upload_id}/"

    async def _parts(self, upload_id: uuid.UUID) -> tuple[list[str], int]:
        """The contiguous pieces from offset 0 (keys in order) and their total size."""
        prefix = self._part_prefix(upload_id)
        pieces: dict[int, tuple[str, int]] = {}
        for key, size in await self._keys_under(prefix):
            name = key.rsplit("/", 1)[-1]
            if name.isdigit():
                pieces[int(name)] = (key, size)
        keys: list[str] = []
        total = 0
        while total in pieces and pieces[total][1] > 0:
            key, size = pieces[total]
            keys.append(key)
            total += size
        return keys, total

    async def part_size(self, upload_id: uuid.UUID) -> int:
        return (await self._parts(upload_id))[1]

    async def _put_piece(self, upload_id: uuid.UUID, offset: int, data: bytes) -> None:
        import obstore
        from obstore.exceptions import AlreadyExistsError

        try:
            await obstore.put_async(self.store, f"{self._part_prefix(upload_id)}{offset:015d}", data, mode="create")
        except AlreadyExistsError:
            raise Conflict("another chunk of this upload is being received; retry when it has finished") from None

    async def append_part(
        self, upload_id: uuid.UUID, offset: int, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> int:
        """Like the local store: bytes at `offset` (the current size), kept as they arrive in
        pieces of PART_OBJECT_BYTES; what arrived before a dropped connection is kept."""
        size = await self.part_size(upload_id)
        if size != offset:
            raise InvalidInput(f"the upload has {size} bytes; send the range starting at {size}")
        buffer = bytearray()
        start = size

        async def flush() -> None:
            nonlocal start
            if buffer:
                await self._put_piece(upload_id, start, bytes(buffer))
                start += len(buffer)
                buffer.clear()

        try:
            async for chunk in chunks:
                if size + len(chunk) > max_bytes:
                    keep = max_bytes - size
                    buffer += chunk[:keep]
                    size += keep
                    raise PayloadTooLarge(f"more bytes than declared ({max_bytes})")
                buffer += chunk
                size += len(chunk)
                if len(buffer) >= PART_OBJECT_BYTES:
                    await flush()
        finally:
            with anyio.CancelScope(shield=True):
                await flush()
        return size

    async def commit_part(self, upload_id: uuid.UUID, key: str) -> int:
        """Concatenate the pieces into `key` (a server-side copy when there is one piece)."""
        import obstore

        key = check_key(key)
        pieces, total = await self._parts(upload_id)
        if not pieces:
            existing = await self.size(key)
            if existing is not None:  # committed already (a retried completion)
                return existing
            raise NotFound(f"no upload data for {upload_id}")
        if len(pieces) == 1:
            await obstore.copy_async(self.store, pieces[0], key)
        else:

            async def joined() -> AsyncIterator[bytes]:
                for piece in pieces:
                    result = await obstore.get_async(self.store, piece)
                    async for chunk in result.stream(min_chunk_size=CHUNK_SIZE * 4):
                        yield bytes(chunk)

            await obstore.put_async(self.store, key, joined(), attributes=_attributes(key))
        await self.discard_part(upload_id)
        return total

    async def discard_part(self, upload_id: uuid.UUID) -> None:
        await self._delete_many([key for key, _ in await self._keys_under(self._part_prefix(upload_id))])

    async def ping(self) -> None:
        """Raise unless the bucket answers (readiness)."""
        import obstore

        async for _ in obstore.list(self.store, prefix=".ping/", chunk_size=1):
            break
