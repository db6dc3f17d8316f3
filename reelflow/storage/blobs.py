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

The interface and key rules live in `blobs_base`, the stores in `blobs_local` and `blobs_s3`;
this module picks the configured store and signs download links, and re-exports the rest.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from reelflow.errors import ConfigurationError, Forbidden, InvalidInput, NotFound
from reelflow.settings import Settings, get_settings
from reelflow.storage.blobs_base import CHUNK_SIZE, PART_OBJECT_BYTES, BlobStore, DirectUploadStore, check_key
from reelflow.storage.blobs_local import LocalBlobStore
from reelflow.storage.blobs_s3 import S3BlobStore
from reelflow.storage.crypto import dev_secret

__all__ = [
    "CHUNK_SIZE",
    "PART_OBJECT_BYTES",
    "BlobStore",
    "DirectUploadStore",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_download_url",
    "blobs_root",
    "check_key",
    "get_blob_store",
    "signed_blob_path",
    "signing_secret",
    "verify_blob_signature",
]


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
