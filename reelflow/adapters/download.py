"""SSRF-safe download of a URL's video into a byte sink (the blob store).

Every hop (redirects included) must be http(s) and resolve only to public addresses
(unless its origin is allowed); the connection goes to the checked address, so a
rebinding DNS answer cannot switch it to a private one. The URL rules themselves are pure
(`reelflow.domain.ingest`); this module does the I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from reelflow.domain import ingest
from reelflow.errors import InvalidInput, PayloadTooLarge, Retryable

MAX_REDIRECTS = 3


class StreamSink(Protocol):
    async def write_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int: ...


Resolver = Callable[[str, int], Awaitable[list[str]]]


def pinned(source: ingest.SourceUrl, address: str) -> str:
    """The URL with its host replaced by the checked address (no second DNS lookup)."""
    parts = urlsplit(source.url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{host}:{source.port}", parts.path or "/", parts.query, ""))


async def download_source(
    url: str,
    key_for: Callable[[str], str],
    *,
    sink: StreamSink,
    resolve: Resolver,
    max_bytes: int,
    timeout_s: float,
    allowed: frozenset[str],
) -> tuple[str, int]:
    """Stream `url` into `sink`; returns (key, size). Refuses non-video content types, bodies
    over `max_bytes` and bodies whose first bytes are not a video container."""
    current = url
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            source = ingest.parse_source_url(current)
            if source.origin in allowed:
                target, headers, extensions = source.url, {}, {}
            else:
                addresses = await resolve(source.host, source.port)
                ingest.check_addresses(source, addresses, allowed)
                target = pinned(source, addresses[0])
                default_port = 443 if source.scheme == "https" else 80
                host_header = source.host if source.port == default_port else f"{source.host}:{source.port}"
                headers = {"Host": host_header}
                extensions = {"sni_hostname": source.host} if source.scheme == "https" else {}
            try:
                async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise InvalidInput("the URL redirects without a Location", field="url")
                        current = urljoin(current, location)
                        continue
                    if response.status_code in (408, 425, 429) or response.status_code >= 500:
                        # The platform is down or busy: retried until the import deadline.
                        raise Retryable(
                            f"the URL could not be reached: it answered HTTP {response.status_code}",
                            retry_after=_retry_after(response.headers.get("retry-after")),
                        )
                    if response.status_code >= 400:
                        raise InvalidInput(
                            f"the URL answered HTTP {response.status_code}; it must serve the video file", field="url"
                        )
                    content_type = ingest.check_content_type(response.headers.get("content-type"), field="url")
                    length = response.headers.get("content-length")
                    if length and length.isdigit() and int(length) > max_bytes:
                        raise PayloadTooLarge(f"the file is {int(length)} bytes; the import limit is {max_bytes} bytes")
                    ext = ingest.EXTENSIONS.get(content_type) or _ext_of(source.url)
                    key = key_for(ext)
                    size = await sink.write_stream(key, ingest.sniff_video(response.aiter_bytes()), max_bytes=max_bytes)
                    return key, size
            except httpx.TimeoutException:
                raise Retryable(f"the URL could not be reached: no answer within {timeout_s:g} s") from None
            except httpx.TransportError as exc:
                raise Retryable(f"the URL could not be reached: {exc or type(exc).__name__}") from None
    raise InvalidInput(f"the URL redirects more than {MAX_REDIRECTS} times", field="url")


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(300.0, float(value.strip()))
    return None


def _ext_of(url: str) -> str:
    path = urlsplit(url).path
    _, dot, ext = path.rpartition(".")
    return f".{ext.lower()}" if dot and ext.isalnum() and len(ext) <= 5 else ".mp4"


class UrlImporter:
    """The `SourceImporter` protocol: `download_source` (SSRF-checked on every hop)."""

    async def download(
        self,
        url: str,
        key_for: Callable[[str], str],
        *,
        sink: StreamSink,
        resolve: Resolver,
        max_bytes: int,
        timeout_s: float,
        allowed: frozenset[str],
    ) -> tuple[str, int]:
        return await download_source(
            url, key_for, sink=sink, resolve=resolve, max_bytes=max_bytes, timeout_s=timeout_s, allowed=allowed
        )
