"""Blob storage for videos, renders, thumbnails and transcripts.

`BlobStore` is the interface; `LocalBlobStore` keeps blobs in a folder (default
`<data_dir>/blobs`). Writes are atomic (a temporary file in the same folder, then
`os.replace`), reads and writes are streamed in chunks, and keys are deterministic paths
chosen by the caller (`projects/{id}/clips/{clip_id}/{hash}.mp4`), so a retried job
overwrites the same blob instead of adding one. Resumable uploads append to a part file
that is committed (renamed) to its key when complete.

`S3BlobStore` keeps them in an S3-compatible bucket (obstore: AWS S3, R2, MinIO, SeaweedFS),
selected by `REELFLOW_BLOB_URL=s3://bucket/prefix` with `REELFLOW_BLOB__ENDPOINT` and keys
(or the standard `AWS_*` variables). Separate processes (web and media dynos) share nothing
but the bucket. Writes are single objects (multipart for streams, so a failed write leaves
nothing); `local_file` downloads to a temporary file for ffmpeg; resumable uploads keep
each received piece as its own object under `.parts/{upload_id}/{offset}` (created with
If-None-Match, so two writers of the same range conflict instead of interleaving) and the
commit concatenates them into the key. `REELFLOW_BLOB_URL=file:///path` (or unset outside
dev/test) selects the local folder: one process only (or processes sharing that disk).

Downloads: with S3, `blob_download_url` hands out presigned GET URLs (the bucket serves the
bytes); with a folder, the API serves them at `/api/v1/blobs/{key}?expires=..&sig=..`,
signed with HMAC-SHA256 (settings.secrets.signing_secret). Both expire.
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
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlencode, urlsplit

import anyio
import anyio.to_thread
import structlog

from reelflow.errors import ConfigurationError, Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from reelflow.settings import Settings, get_settings
from reelflow.storage.crypto import dev_secret

CHUNK_SIZE = 1024 * 1024
# A resumable upload's received bytes are stored in objects of at most this size, so a
# connection that drops mid-chunk loses at most this much (the client resumes from the
# reported offset).
PART_OBJECT_BYTES = 8 * 1024 * 1024
log = structlog.get_logger("reelflow.blobs")
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


def blobs_root(settings: Settings | None = None) -> Path:
    """The folder of the local store (`REELFLOW_BLOB_URL=file:///path`, or the data folder)."""
    settings = settings or get_settings()
    if settings.blob_url and settings.blob_url.startswith("file://"):
        return Path(urlsplit(settings.blob_url).path).expanduser().resolve()
    if settings.blob.dir is not None:
        return settings.blob.dir.expanduser().resolve()
    return settings.resolved_data_dir / "blobs"


@functools.lru_cache(maxsize=4)
def _store_for(root: Path) -> LocalBlobStore:
    root.mkdir(parents=True, exist_ok=True)
    return LocalBlobStore(root)


@functools.lru_cache(maxsize=4)
def _s3_store_for(url: str, endpoint: str | None, key_id: str | None, secret: str | None, region: str | None,
                  public_endpoint: str | None, temp_dir: Path) -> S3BlobStore:  # fmt: skip
    return S3BlobStore.from_url(
        url,
        endpoint=endpoint,
        access_key_id=key_id,
        secret_access_key=secret,
        region=region,
        public_endpoint=public_endpoint,
        temp_dir=temp_dir,
    )


def get_blob_store() -> BlobStore:
    """The configured store: S3 for `REELFLOW_BLOB_URL=s3://…`, else the local folder."""
    settings = get_settings()
    url = settings.blob_url
    if url and url.startswith("s3://"):
        blob = settings.blob
        return _s3_store_for(
            url,
            blob.endpoint,
            blob.access_key_id,
            blob.secret_access_key,
            blob.region,
            blob.public_endpoint,
            settings.resolved_data_dir / "tmp",
        )
    return _store_for(blobs_root(settings))


def blob_download_url(key: str, *, ttl_s: int | None = None) -> str:
    """Where a client downloads `key`: a presigned S3 URL (absolute), or the API's signed
    path (relative: the caller makes it absolute)."""
    store = get_blob_store()
    if isinstance(store, S3BlobStore):
        return store.presigned_get(key, ttl_s if ttl_s is not None else get_settings().blob.url_ttl_s)
    return signed_blob_path(key, ttl_s=ttl_s)


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
    ttl = ttl_s if ttl_s is not None else get_settings().blob.url_ttl_s
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
