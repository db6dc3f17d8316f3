"""Discovery: the image proxy (creator avatars and video covers from the provider's CDN,
checked against the allowed hosts and cached in the blob store)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reelflow.adapters.protocols import ImageFetcher
from reelflow.domain import discovery as rules
from reelflow.domain import ingest
from reelflow.errors import Forbidden, ReelflowError
from reelflow.logs import get_logger
from reelflow.settings import DiscoverySettings
from reelflow.storage.blobs import BlobStore

log = get_logger(__name__)


@dataclass(frozen=True)
class ProxiedImage:
    data: bytes
    content_type: str
    etag: str
    cached: bool


def image_rules(
    settings: DiscoverySettings, *, production: bool, sandbox_url: str | None
) -> tuple[Callable[[str], None], Callable[[str, Sequence[str]], None]]:
    """The proxy's rules for every hop: https (http only for allowed dev origins), a host
    in the allow-list, and only public addresses (outside production the sandbox origin,
    which is on 127.0.0.1, is allowed)."""
    hosts = rules.parse_host_patterns(settings.image_hosts)
    dev_origins = ingest.allowed_import_origins(production=production, sandbox_url=sandbox_url, extra=None)
    dev_hosts = {o.split("://", 1)[1].rsplit(":", 1)[0].strip("[]") for o in dev_origins}

    def allow(url: str) -> None:
        try:
            source = ingest.parse_source_url(url)
        except ReelflowError:
            raise Forbidden("the image URL is not a valid http(s) URL") from None
        if source.origin in dev_origins:
            return
        if source.scheme != "https":
            raise Forbidden("only https image hosts are fetched")
        if not rules.host_allowed(source.host, hosts) and source.host not in dev_hosts:
            raise Forbidden(f"the host {source.host} is not an allowed image host")

    def addresses_ok(url: str, addresses: Sequence[str]) -> None:
        source = ingest.parse_source_url(url)
        try:
            ingest.check_addresses(source, list(addresses), dev_origins)
        except ReelflowError as exc:
            raise Forbidden(f"refused: {exc.detail}") from None

    return allow, addresses_ok


def image_path(secret: bytes, url: str | None) -> str | None:
    if not url:
        return None
    return f"/api/v1/discovery/images/{rules.sign_image_url(secret, url)}"


async def proxy_image(
    token: str,
    *,
    secret: bytes,
    fetcher: ImageFetcher,
    blobs: BlobStore,
    allow: Callable[[str], None],
    addresses_ok: Callable[[str, Sequence[str]], None],
) -> ProxiedImage:
    """A signed avatar URL → the image bytes, from the blob cache or fetched once."""
    url = rules.verify_image_token(secret, token)
    allow(url)
    key = rules.image_cache_key(url)
    meta_key = key + ".type"
    if await blobs.size(key) is not None:
        data = await blobs.read_bytes(key)
        content_type = (await blobs.read_bytes(meta_key)).decode() if await blobs.size(meta_key) else "image/jpeg"
        return ProxiedImage(data, content_type, _etag(key), cached=True)
    started = time.monotonic()
    image = await fetcher.fetch(url, allow=allow, addresses_ok=addresses_ok)
    await blobs.write_bytes(meta_key, image.content_type.encode())
    await blobs.write_bytes(key, image.data)
    log.info("discovery.image_fetched", bytes=len(image.data), seconds=round(time.monotonic() - started, 3))
    return ProxiedImage(image.data, image.content_type, _etag(key), cached=False)


def _etag(key: str) -> str:
    return '"' + key.rsplit("/", 1)[-1][:32] + '"'
