"""Blobs: the `BlobStore` interface both stores implement, and the key rules."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import structlog

from reelflow.errors import InvalidInput

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


@runtime_checkable
class DirectUploadStore(Protocol):
    """A store that clients can upload to directly (presigned PUTs of an upload's pieces)."""

    def presigned_part_put(self, upload_id: uuid.UUID, offset: int, ttl_s: int) -> str: ...


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
