"""Shared state of the sandbox: simulated clock, faults, inspection log, tokens, stores.

A platform module (`reelflow/sandbox/<platform>.py`) exposes `route_handlers` (Litestar
handlers under its path prefix) and registers its error shape once at import::

    from reelflow.sandbox import core

    PREFIX = "/tiktok-business"

    def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
        # the vendor's error envelope for an injected fault; returns (http status, body)
        return 200, {"code": code or 40100, "message": message, "request_id": core.log_id(), "data": {}}

    core.register_platform(PREFIX, render_error)

Inside handlers use `state = core.get_state()`:
- `state.clock.now()` (epoch seconds, simulated) for every time the platform would read;
- `state.tokens.issue(...)` / `state.tokens.check(token)` for OAuth-like tokens;
- `state.record(kind, **data)` for domain events tests assert on ("exactly once");
- `state.store("name", dict)` for the module's mutable state (cleared by `POST /sandbox/reset`).

Faults are injected per endpoint (`POST /sandbox/faults`, see `Fault`) and applied by the
ASGI middleware in `app.py` before (or, for `after_accept`, after) the handler runs.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import msgspec

ErrorRenderer = Callable[[int, "str | int | None", str], "tuple[int, Any]"]
FaultKind = Literal["error", "auth_expired", "latency", "timeout", "after_accept"]
T = TypeVar("T")


def log_id() -> str:
    """A vendor-style log/request id."""
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


# --- simulated clock -----------------------------------------------------------------------


class SimClock:
    """Real time plus an offset that tests and demos move forward (`POST /sandbox/clock`)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen_at: float | None = None

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else time.time() + self.offset

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock: counters stay put between calls until advanced."""
        if frozen and self.frozen_at is None:
            self.frozen_at = self.now()
        elif not frozen and self.frozen_at is not None:
            self.offset = self.frozen_at - time.time()
            self.frozen_at = None

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        if self.frozen_at is not None:
            self.frozen_at += seconds

    def set(self, epoch: float) -> None:
        self.offset = epoch - time.time()
        if self.frozen_at is not None:
            self.frozen_at = epoch

    def reset(self) -> None:
        self.offset = 0.0
        self.frozen_at = None


# --- faults --------------------------------------------------------------------------------


class Fault(msgspec.Struct, kw_only=True):
    """One injected fault, matched on method and a glob over the request path.

    kinds:
    - `error`: answer `status` with the platform's error envelope (`error_code` overrides the
      vendor code; `retry_after` adds a Retry-After header). 429, 5xx, 400, quota...
    - `auth_expired`: the platform's "access token invalid/expired" answer.
    - `latency`: wait `delay` seconds, then handle normally.
    - `timeout`: wait `delay` seconds without handling (the client gives up first), then 504.
    - `after_accept`: handle the request (state changes, events recorded), then either wait
      `delay` seconds before answering (client times out) or, with delay 0, answer `status`.
    `skip` matching requests pass first; then the fault applies `times` times (-1: forever),
    each matching request with `probability` (seeded: the same run injects the same faults).
    """

    path: str
    kind: FaultKind = "error"
    method: str = "*"
    status: int = 500
    error_code: str | int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1
    skip: int = 0
    probability: float = 1.0
    id: int = 0
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        alternate = path[:-1] if path.endswith("/") else path + "/"
        return fnmatch.fnmatchcase(path, self.path) or fnmatch.fnmatchcase(alternate, self.path)


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._rng = random.Random(20261203)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault for this request, counting it as applied (or skipped)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times == 0:
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                fault.applied += 1
                return fault
            return None

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


# --- inspection log ------------------------------------------------------------------------


class RequestRecord(msgspec.Struct):
    seq: int
    at: float
    method: str
    path: str
    query: str
    platform: str
    body: Any = None
    body_bytes: int = 0
    status: int = 0
    fault: str | None = None
    correlation_id: str | None = None
    duration_ms: float = 0.0
    real_at: float = 0.0


class Event(msgspec.Struct):
    seq: int
    at: float
    kind: str
    data: dict[str, Any]


# --- tokens --------------------------------------------------------------------------------


class Token(msgspec.Struct):
    value: str
    kind: str  # "access", "refresh", "client", "code"
    subject: str  # open_id, channel id, app id...
    scopes: list[str]
    expires_at: float
    client: str = ""
    revoked: bool = False
    used: bool = False
    extra: dict[str, Any] = {}


class TokenStore:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        kind: str,
        subject: str,
        *,
        ttl: float,
        prefix: str = "",
        scopes: list[str] | None = None,
        client: str = "",
        **extra: Any,
    ) -> Token:
        token = Token(
            value=prefix + secrets.token_urlsafe(24),
            kind=kind,
            subject=subject,
            scopes=list(scopes or []),
            expires_at=self.clock.now() + ttl,
            client=client,
            extra=extra,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def get(self, value: str | None) -> Token | None:
        return self._tokens.get(value or "")

    def check(self, value: str | None, kind: str = "access") -> Token | None:
        """The live token (right kind, not expired, not revoked), else None."""
        token = self.get(value)
        if token is None or token.kind != kind or token.revoked or token.expires_at <= self.clock.now():
            return None
        return token

    def revoke(self, value: str) -> bool:
        token = self.get(value)
        if token is None:
            return False
        token.revoked = True
        return True

    def expire(self, value: str | None = None, *, kind: str | None = None) -> int:
        """Expire one token, or every token (of a kind): the next use is rejected."""
        now = self.clock.now()
        count = 0
        with self._lock:
            for token in self._tokens.values():
                if (value is None or token.value == value) and (kind is None or token.kind == kind):
                    token.expires_at = min(token.expires_at, now - 1)
                    count += 1
        return count

    def all(self) -> list[Token]:
        with self._lock:
            return list(self._tokens.values())

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# --- the state -----------------------------------------------------------------------------


class SandboxState:
    def __init__(self) -> None:
        self.clock = SimClock()
        self.faults = FaultBook()
        self.tokens = TokenStore(self.clock)
        self.requests: deque[RequestRecord] = deque(maxlen=200_000)
        self.events: list[Event] = []
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self._stores: dict[str, Any] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        return next(self._seq)

    def record(self, kind: str, **data: Any) -> Event:
        """A domain event (a post published, a chunk uploaded, an ad created...)."""
        event = Event(seq=self.next_seq(), at=self.clock.now(), kind=kind, data=data)
        with self._lock:
            self.events.append(event)
        return event

    def store(self, name: str, factory: Callable[[], T]) -> T:
        """Mutable per-module state, created on first use and dropped by reset."""
        with self._lock:
            if name not in self._stores:
                self._stores[name] = factory()
            return self._stores[name]  # type: ignore[no-any-return]

    def reset(self) -> None:
        self.clock.reset()
        self.faults.clear()
        self.tokens.clear()
        with self._lock:
            self.requests.clear()
            self.events.clear()
            self._stores.clear()
            self.config = dict(DEFAULT_CONFIG)


DEFAULT_CONFIG: dict[str, Any] = {
    # The Research API's first page of a new search fails this many times ("cache building").
    "research_warmup_failures": 0,
    # How long a Research search_id stays valid (simulated seconds).
    "research_search_ttl_s": 3600,
    # Simulated seconds a TikTok post spends processing after its bytes arrive.
    "tiktok_processing_s": 10,
    # Seconds a YouTube video spends processing after upload.
    "youtube_processing_s": 30,
    # Enforce TikTok's documented per-token rate limits inside the sandbox too.
    "enforce_rate_limits": False,
}

_state = SandboxState()
_platforms: dict[str, ErrorRenderer] = {}


_credentials: dict[str, str] = {}


def credential(name: str) -> str:
    """The key the sandbox expects for a credential setting, fixed when the app is created
    (so a test changing its own settings does not change what the sandbox accepts)."""
    if name not in _credentials:
        from reelflow.settings import get_settings

        _credentials[name] = get_settings().credential(name)
    return _credentials[name]


def snapshot_credentials() -> None:
    from reelflow.settings import SANDBOX_CREDENTIALS

    _credentials.clear()
    for name in SANDBOX_CREDENTIALS:
        credential(name)


def get_state() -> SandboxState:
    return _state


def register_platform(prefix: str, render_error: ErrorRenderer) -> None:
    """Declare a platform path prefix and how it renders an error (for injected faults)."""
    _platforms[prefix.rstrip("/")] = render_error


def platform_for(path: str) -> tuple[str, ErrorRenderer] | None:
    best: tuple[str, ErrorRenderer] | None = None
    for prefix, renderer in _platforms.items():
        if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, renderer)
    return best


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
