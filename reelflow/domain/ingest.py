"""Rules for getting a source video in: URL safety (SSRF), accepted types, upload ranges,
and signed, expiring tokens (upload URLs, blob download URLs). Pure functions; no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from reelflow.errors import Forbidden, InvalidInput, UnsupportedMediaType

# Container types a source may declare. `application/octet-stream` is accepted because many
# servers and clients send it for any file; the first bytes are sniffed anyway.
VIDEO_CONTENT_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "video/x-msvideo",
        "video/mpeg",
        "video/mp2t",
        "video/x-flv",
        "video/3gpp",
        "application/octet-stream",
    }
)
EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
    "video/mp2t": ".ts",
    "video/x-flv": ".flv",
    "video/3gpp": ".3gp",
}


def normalise_content_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def check_content_type(value: str | None, *, field: str = "content_type") -> str:
    """The media type without parameters, if it is an accepted video type."""
    media_type = normalise_content_type(value)
    if media_type not in VIDEO_CONTENT_TYPES:
        raise InvalidInput(
            f"{media_type or 'no content type'} is not an accepted video type "
            f"(accepted: {', '.join(sorted(VIDEO_CONTENT_TYPES))})",
            field=field,
        )
    return media_type


def looks_like_video(head: bytes) -> bool:
    """Whether the first bytes look like a video container we can probe (ISO BMFF/MP4/MOV,
    Matroska/WebM, AVI, MPEG-PS/TS, FLV, 3GP). A cheap early refusal; the probe decides."""
    if len(head) < 12:
        return False
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return True
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, WebM
        return True
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    if head[:4] == b"\x00\x00\x01\xba" or head[:4] == b"\x00\x00\x01\xb3":  # MPEG-PS
        return True
    if head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47"):  # MPEG-TS sync bytes
        return True
    return head[:3] == b"FLV"


async def sniff_video(chunks: AsyncIterable[bytes], *, check: bool = True) -> AsyncIterator[bytes]:
    """Pass chunks through; when `check`, refuse (415) a stream whose first bytes are not a video."""
    head = b""
    async for chunk in chunks:
        if not chunk:
            continue
        if check:
            head += chunk
            if len(head) < 189:
                continue
            if not looks_like_video(head):
                raise UnsupportedMediaType(NOT_A_VIDEO)
            chunk, head, check = head, b"", False
        yield chunk
    if check and head:
        if not looks_like_video(head):
            raise UnsupportedMediaType(NOT_A_VIDEO)
        yield head


NOT_A_VIDEO = "the file is not a video this service can read (mp4, mov, webm, mkv, ...)"


# --- URL safety (server-side request forgery) -------------------------------------------


@dataclass(frozen=True)
class SourceUrl:
    url: str
    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> str:
        return origin_of(self.scheme, self.host, self.port)


def origin_of(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host.lower()}:{port}"


def parse_source_url(url: str) -> SourceUrl:
    """An http(s) URL with a host, no credentials; raises InvalidInput otherwise."""
    if len(url) > 2048:
        raise InvalidInput("the URL is longer than 2048 characters", field="url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInput("not a valid URL", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("only http and https URLs can be imported", field="url")
    if not parts.hostname:
        raise InvalidInput("the URL has no host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("URLs with credentials are not accepted", field="url")
    check_hostname(parts.hostname)
    return SourceUrl(
        url=url.strip(), scheme=scheme, host=parts.hostname, port=port or (443 if scheme == "https" else 80)
    )


def check_hostname(host: str) -> None:
    """A host name the resolver and the HTTP client can encode (valid IDNA, sane lengths);
    InvalidInput naming `url` otherwise."""
    if "\x00" in host or len(host) > 253:
        raise InvalidInput("the URL's host is not a valid host name", field="url")
    if host.isascii():
        labels = host.rstrip(".").split(".")
        if host.startswith("[") or _is_ip_literal(host):
            return
        if any(not label or len(label) > 63 for label in labels):
            raise InvalidInput("the URL's host is not a valid host name", field="url")
        if not any(label.lower().startswith("xn--") for label in labels):
            return
    try:
        host.encode("idna")  # what the resolver uses
        idna.encode(host, uts46=True)  # what the HTTP client uses
    except (UnicodeError, ValueError, idna.IDNAError):
        raise InvalidInput("the URL's host is not a valid internationalised domain name", field="url") from None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_origins(value: str | None) -> frozenset[str]:
    """`scheme://host[:port]` items (comma-separated) as normalised origins."""
    origins = set()
    for item in (value or "").split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        parsed = parse_source_url(item)
        origins.add(parsed.origin)
    return frozenset(origins)


def blocked_address_reason(address: str) -> str | None:
    """Why fetching from this IP is refused (private, loopback, ...), or None if public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attribute, reason in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
        ("is_unspecified", "unspecified"),
    ):
        if getattr(ip, attribute):
            return reason
    if not ip.is_global:  # shared address space (100.64/10) and the like
        return "not globally routable"
    return None


def check_addresses(source: SourceUrl, addresses: list[str], allowed_origins: frozenset[str]) -> None:
    """Refuse a URL if any address its host resolves to is not public, unless its origin
    is explicitly allowed (the dev/test sandbox). Every address is checked, so a host
    with one public and one private record is refused."""
    if source.origin in allowed_origins:
        return
    if not addresses:
        raise InvalidInput(f"the host {source.host} does not resolve", field="url")
    for address in addresses:
        reason = blocked_address_reason(address)
        if reason:
            raise InvalidInput(
                f"the host {source.host} resolves to a {reason} address ({address}); only public hosts can be imported",
                field="url",
            )


# --- upload ranges ----------------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(header: str | None, *, body_length: int | None, total: int) -> ByteRange:
    """`Content-Range: bytes a-b/total` for a chunk; without the header, the whole file."""
    if not header:
        if body_length is not None and body_length != total:
            raise InvalidInput(
                "a body that is not the whole file needs a Content-Range header (bytes a-b/total)",
                field="Content-Range",
            )
        return ByteRange(0, total - 1, total)
    match = _CONTENT_RANGE.match(header.strip())
    if not match:
        raise InvalidInput("Content-Range must look like 'bytes a-b/total'", field="Content-Range")
    start, end, declared = (int(g) for g in match.groups())
    if declared != total:
        raise InvalidInput(f"the total in Content-Range ({declared}) is not the upload's size ({total})")
    if end < start or end >= total:
        raise InvalidInput("Content-Range is outside the file", field="Content-Range")
    if body_length is not None and body_length != end - start + 1:
        raise InvalidInput("Content-Length does not match Content-Range", field="Content-Range")
    return ByteRange(start, end, total)


# --- signed, expiring tokens ------------------------------------------------------------


def sign(secret: bytes, purpose: str, subject: str, expires: int) -> str:
    message = f"{purpose}\n{subject}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def make_token(secret: bytes, purpose: str, subject: str, ttl_s: int, *, now: float | None = None) -> tuple[str, int]:
    """A token `expires.signature` for `subject` (an upload id), and its expiry (epoch s)."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    return f"{expires}.{sign(secret, purpose, subject, expires)}", expires


_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_EXPIRES = re.compile(r"^[0-9]{1,12}$")


def verify_signature(secret: bytes, purpose: str, subject: str, expires: int, signature: str, *, now: float) -> None:
    """Raises Forbidden when the signature is wrong or has expired (whatever the client
    sent: non-ASCII, absurdly long or malformed values are simply not valid)."""
    if not _HEX_SIGNATURE.match(signature) or not 0 <= expires < 10**12:
        raise Forbidden("the link's signature is not valid")
    expected = sign(secret, purpose, subject, expires)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("the link's signature is not valid")
    if expires < now:
        raise Forbidden("the link has expired; ask for a new one")


def verify_token(secret: bytes, purpose: str, subject: str, token: str | None, *, now: float | None = None) -> None:
    if not token or "." not in token:
        raise Forbidden("a signed token is required")
    expires_text, _, signature = token.partition(".")
    if not _EXPIRES.match(expires_text):
        raise Forbidden("the link's signature is not valid")
    verify_signature(
        secret, purpose, subject, int(expires_text), signature, now=now if now is not None else time.time()
    )


def allowed_import_origins(*, production: bool, sandbox_url: str | None, extra: str | None) -> frozenset[str]:
    """Origins URL import may reach although they resolve to private addresses: outside
    production, the platform sandbox (it runs on 127.0.0.1 in dev, tests and the demo) and
    any configured extras. In production, none: every host must resolve to public addresses."""
    if production:
        return frozenset()
    origins = set(parse_origins(extra))
    if sandbox_url:
        origins |= parse_origins(sandbox_url)
    return frozenset(origins)


# --- complete media ----------------------------------------------------------------------------


def truncation_tolerance_s(declared_s: float) -> float:
    """How far the data may stop short of the declared duration (encoders pad the last
    frame; containers round): 1 s or 2 %, whichever is larger."""
    return max(1.0, 0.02 * declared_s)


def verified_duration(
    declared_s: float, stream_end_s: dict[str, float], *, decoded_audio_s: float | None = None, name: str = "the file"
) -> float:
    """The duration to charge for: the declared one, once the streams' data (demuxed to the
    end: `stream_end_s` by stream type) and, when given, the decoded audio reach it.

    A truncated upload (an interrupted copy whose index still declares the full length) or
    a stream with no data is refused with InvalidInput naming `source`, before anything is
    charged."""
    if declared_s <= 0:
        ends = [e for e in stream_end_s.values() if e > 0]
        if not ends:
            raise InvalidInput(f"{name}: broken media (no audio or video data)", field="source")
        declared_s = max(ends)
    tolerance = truncation_tolerance_s(declared_s)
    for kind, end in sorted(stream_end_s.items()):
        if end <= 0:
            raise InvalidInput(f"{name}: broken media (the {kind} stream has no data)", field="source")
        if declared_s - end > tolerance:
            raise InvalidInput(
                f"{name}: the file is truncated: it declares {declared_s:.1f} s but its {kind} data stops at "
                f"{end:.1f} s; upload the complete file",
                field="source",
            )
    if decoded_audio_s is not None and declared_s - decoded_audio_s > tolerance:
        raise InvalidInput(
            f"{name}: the audio could be decoded only up to {decoded_audio_s:.1f} s of {declared_s:.1f} s "
            "(truncated or corrupt); upload the complete file",
            field="source",
        )
    return declared_s
