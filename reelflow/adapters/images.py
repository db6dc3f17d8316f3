"""Fetch one public image for the discovery image proxy, safely.

    fetcher = ImageFetcher()   # limits from settings.discovery.image_* (or given here)
    image = await fetcher.fetch(url, allow=check_url, addresses_ok=check_addresses)

Every hop (the first URL and each redirect) is checked by `allow(url)` (scheme, host
allow-list: the caller's rules) and its host's resolved addresses by
`addresses_ok(url, addresses)` (no private, loopback, link-local... addresses); the
connection then goes to the checked address (no second DNS lookup, so a rebinding answer
cannot switch it). Bodies over `max_bytes`, slow servers (`timeout_s` for the whole fetch)
and non-image content are refused. HEIC/HEIF images are converted to JPEG (pillow-heif).
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from reelflow.errors import InvalidInput, PayloadTooLarge, Permanent, Retryable, UnsupportedMediaType
from reelflow.settings import get_settings

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif"}
HEIF_TYPES = {"image/heic", "image/heif"}


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    content_type: str
    final_url: str
    converted: bool = False  # HEIC → JPEG


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
    return None


def heic_to_jpeg(data: bytes, quality: int = 88) -> bytes:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=quality)
        return out.getvalue()


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"the image host {host} does not resolve ({exc.strerror})", field="url") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class ImageFetcher:
    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        timeout_s: float | None = None,
        max_redirects: int | None = None,
        user_agent: str = "Mozilla/5.0 (compatible; reelflow-image-proxy)",
        pinned_origins: frozenset[str] = frozenset(),
    ) -> None:
        """Limits not given are read from settings (`discovery.image_*`) at each fetch."""
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._max_redirects = max_redirects
        self.user_agent = user_agent
        # Origins connected to by name (the dev/test sandbox on 127.0.0.1): no pinning needed.
        self.pinned_origins = pinned_origins

    @property
    def max_bytes(self) -> int:
        return self._max_bytes if self._max_bytes is not None else get_settings().discovery.image_max_bytes

    @property
    def timeout_s(self) -> float:
        return self._timeout_s if self._timeout_s is not None else get_settings().discovery.image_timeout_s

    @property
    def max_redirects(self) -> int:
        if self._max_redirects is not None:
            return self._max_redirects
        return get_settings().discovery.image_max_redirects

    async def fetch(
        self,
        url: str,
        *,
        allow: Callable[[str], None],
        addresses_ok: Callable[[str, Sequence[str]], None],
    ) -> FetchedImage:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, allow, addresses_ok)
        except TimeoutError:
            raise Retryable(f"the image host did not answer within {self.timeout_s:g} s") from None

    async def _fetch(
        self, url: str, allow: Callable[[str], None], addresses_ok: Callable[[str, Sequence[str]], None]
    ) -> FetchedImage:
        current = url
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 5.0))
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for _ in range(self.max_redirects + 1):
                allow(current)
                parts = urlsplit(current)
                host = parts.hostname or ""
                scheme = parts.scheme.lower()
                port = parts.port or (443 if scheme == "https" else 80)
                addresses = await resolve(host, port)
                addresses_ok(current, addresses)
                origin = f"{scheme}://{host}:{port}"
                headers = {"User-Agent": self.user_agent, "Accept": "image/*"}
                extensions: dict[str, str] = {}
                target = current
                if origin not in self.pinned_origins:
                    address = addresses[0]
                    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
                    target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
                    default = 443 if scheme == "https" else 80
                    headers["Host"] = host if port == default else f"{host}:{port}"
                    if scheme == "https":
                        extensions["sni_hostname"] = host
                try:
                    async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                        if response.is_redirect:
                            location = response.headers.get("location")
                            if not location:
                                raise Permanent("the image host redirected without a Location")
                            current = urljoin(current, location)
                            continue
                        if response.status_code == 404:
                            raise Permanent("the image is gone (HTTP 404)", upstream_status=404)
                        if response.status_code >= 500 or response.status_code == 429:
                            raise Retryable(f"the image host answered HTTP {response.status_code}")
                        if response.status_code >= 400:
                            raise Permanent(f"the image host answered HTTP {response.status_code}")
                        length = response.headers.get("content-length")
                        if length and length.isdigit() and int(length) > self.max_bytes:
                            raise PayloadTooLarge(f"the image is {length} bytes; the limit is {self.max_bytes}")
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body.extend(chunk)
                            if len(body) > self.max_bytes:
                                raise PayloadTooLarge(f"the image is larger than the limit of {self.max_bytes} bytes")
                        declared = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
                except httpx.TransportError as exc:
                    raise Retryable(f"the image host could not be reached: {type(exc).__name__}") from None
                data = bytes(body)
                kind = _sniff(data[:32]) or (declared if declared in IMAGE_TYPES else None)
                if kind is None:
                    raise UnsupportedMediaType("the URL did not serve an image")
                if kind in HEIF_TYPES:
                    jpeg = await asyncio.to_thread(heic_to_jpeg, data)
                    return FetchedImage(jpeg, "image/jpeg", current, converted=True)
                return FetchedImage(data, kind, current)
        raise Permanent(f"the image redirected more than {self.max_redirects} times")
