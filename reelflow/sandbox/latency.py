"""A latency and rate-limit model for the sandbox, so benchmarks measure against a platform
that takes time to answer and says 429 when it is pushed too hard.

Off by default (unit tests stay fast); benchmarks switch it on. Ways to switch it:
- the setting `REELFLOW_SANDBOX__LATENCY__ENABLED=true` (with `__SEED`, `__SCALE`), read when
  the sandbox app is created;
- `reelflow sandbox --latency [--latency-seed N] [--latency-scale X]`;
- at run time, `POST /sandbox/latency {"enabled": true, "seed": 7, "scale": 1.0}`;
  `GET /sandbox/latency` shows the table and what each row has done (requests, delay, 429s).
  `POST /sandbox/reset` puts the model back to the process's configured defaults.

How it works: the sandbox's ASGI middleware (`app.py`) asks `MODEL.plan(...)` for every
platform request (never for `/sandbox/...`). The most specific row of the table whose glob
matches the path (and method) decides:
- a delay drawn from a log-normal distribution given by its median and p99 (plus a per-MiB
  term for uploads), scaled by `scale`, from a random generator seeded by (seed, row), so a
  run with the same seed draws the same sequence per endpoint;
- optional sliding-window rate limits per credential (Authorization / Access-Token /
  x-api-key header, or `token` query parameter), counted in real time: one window per row
  and credential, or, for a row with `per_path` (TikTok's Business API counts "per app per
  endpoint", §5.1), one window per credential and request path, so that `/adgroup/get/` and
  `/ad/get/` never share a budget even though one default row covers both. Over the limit, the
  request still waits its delay and then gets the platform's own 429 answer (its error
  envelope, from `core.register_platform`) with a Retry-After.
Daily quotas that follow the simulated clock (Research API: 1,000 requests a day) stay in the
platform modules under `config.enforce_rate_limits`; benchmarks turn both on.

Adding an area's endpoints: nothing is needed to be covered, because every platform prefix has
a default row (`/tiktok-business/*`, `/youtube/*`, ...). To give an endpoint its own figures,
either add a row to `TABLE` below, or call from the platform module::

    from reelflow.sandbox import latency
    latency.register(
        latency.Endpoint("/tiktok-business/open_api/v1.3/report/integrated/get/*",
                         latency.Dist(900, 4000), source="[U] reports are slow"),
    )

Patterns are `fnmatch` globs over the path (`*` crosses `/`); a trailing slash is optional.
The row with the longest literal prefix wins; on a tie, the one registered last.

The figures: the research notes (`platform-apis.md`) document rate limits, not latencies. Every
rate limit below cites its source; every latency is an assumption marked [U] (typical public
API round trips from a well-connected server: a few hundred ms for reads, seconds for
scraping providers, tens of seconds for a synchronous Apify actor run). Change them here.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass(frozen=True)
class Dist:
    """Log-normal round trip: `median_ms` and `p99_ms` fix it; `per_mib_ms` adds time per MiB
    of request body (uploads), `floor_ms` is the least it ever takes."""

    median_ms: float
    p99_ms: float
    per_mib_ms: float = 0.0
    floor_ms: float = 5.0

    def sample_ms(self, rng: random.Random, body_bytes: int = 0) -> float:
        sigma = math.log(max(self.p99_ms, self.median_ms) / self.median_ms) / _Z99
        value = rng.lognormvariate(math.log(self.median_ms), sigma) if sigma > 0 else self.median_ms
        return max(self.floor_ms, value) + self.per_mib_ms * body_bytes / 1_048_576


@dataclass(frozen=True)
class Limit:
    """At most `requests` per `window_s` seconds (sliding window) per credential."""

    requests: int
    window_s: float


@dataclass(frozen=True)
class Endpoint:
    pattern: str
    latency: Dist
    limits: tuple[Limit, ...] = ()
    method: str = "*"
    source: str = "[U]"
    # Count the limits per request path (each endpoint its own window) rather than per row.
    per_path: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        alternate = path[:-1] if path.endswith("/") else path + "/"
        return fnmatch.fnmatchcase(path, self.pattern) or fnmatch.fnmatchcase(alternate, self.pattern)

    @property
    def specificity(self) -> tuple[int, int]:
        literal = len(self.pattern)
        for i, char in enumerate(self.pattern):
            if char in "*?[":
                literal = i
                break
        return literal, 0 if self.method == "*" else 1


_DISPLAY = (Limit(600, 60.0),)  # §1.5: 600 requests per 1-minute sliding window, per endpoint
_BUSINESS = (Limit(10, 1.0), Limit(600, 60.0))  # §5.1: per app per endpoint QPS/QPM; values [U]

TABLE: list[Endpoint] = [
    # --- defaults per platform prefix: every endpoint of an area is covered ----------------
    Endpoint("/tiktok/*", Dist(250, 1200)),
    Endpoint("/tiktok-www/*", Dist(150, 800)),
    Endpoint("/tiktok-upload/*", Dist(300, 2000, per_mib_ms=80)),
    Endpoint("/youtube/*", Dist(200, 1000), (Limit(10, 1.0),), source="[U] limit as the adapter's"),
    Endpoint("/youtube/upload/*", Dist(600, 3000, per_mib_ms=80), (Limit(10, 1.0),)),
    Endpoint("/google-oauth/*", Dist(120, 600)),
    Endpoint("/google-accounts/*", Dist(150, 800)),
    Endpoint(
        "/scrapecreators/*", Dist(1500, 8000), (Limit(10, 1.0),), source="[U] 429 undocumented (§2); adapter's 10/s"
    ),
    Endpoint("/apify/*", Dist(300, 1500), (Limit(5, 1.0),), source="[U] adapter's 5/s"),
    Endpoint("/apify/v2/acts/*/run-sync*", Dist(20_000, 60_000), (Limit(5, 1.0),), source="[U] a synchronous run"),
    Endpoint(
        "/tiktok-business/*",
        Dist(350, 1500),
        _BUSINESS,
        source="[S] §5.1 QPS/QPM per app per endpoint (a window per token per path); values [U]",
        per_path=True,
    ),
    Endpoint("/tiktok-business/open_api/v1.3/report/*", Dist(900, 4000), _BUSINESS, per_path=True),
    Endpoint("/tiktok-business/open_api/v1.3/file/*", Dist(800, 4000, per_mib_ms=80), _BUSINESS, per_path=True),
    # --- TikTok v2 (open.tiktokapis.com) ---------------------------------------------------
    Endpoint("/tiktok/v2/oauth/*", Dist(150, 700)),
    Endpoint("/tiktok/v2/research/video/query/*", Dist(900, 4500), source="[U]; quota 1,000/day in tiktok.py (§1.4)"),
    Endpoint("/tiktok/v2/research/user/*", Dist(450, 2000), source="[U]; quota in tiktok.py (§1.4)"),
    Endpoint("/tiktok/v2/user/info/*", Dist(200, 900), _DISPLAY, source="[V] §1.5 limit; latency [U]"),
    Endpoint("/tiktok/v2/video/list/*", Dist(300, 1300), _DISPLAY, source="[V] §1.5 limit; latency [U]"),
    Endpoint("/tiktok/v2/video/query/*", Dist(250, 1100), _DISPLAY, source="[V] §1.5 limit; latency [U]"),
    Endpoint("/tiktok/v2/post/publish/*", Dist(400, 2000), source="[U]; per-minute limits in tiktok.py"),
]

_registered: list[Endpoint] = []
_lock = threading.Lock()


def register(*endpoints: Endpoint) -> None:
    """Add (or override, same pattern and method) rows from an area's module."""
    with _lock:
        for endpoint in endpoints:
            _registered[:] = [e for e in _registered if (e.pattern, e.method) != (endpoint.pattern, endpoint.method)]
            _registered.append(endpoint)


def endpoints() -> list[Endpoint]:
    return [*TABLE, *_registered]


def match(method: str, path: str) -> Endpoint | None:
    best: Endpoint | None = None
    for endpoint in endpoints():  # later rows win ties: registered ones override the table
        if endpoint.matches(method, path) and (best is None or endpoint.specificity >= best.specificity):
            best = endpoint
    return best


def credential_key(headers: Mapping[str, str], query: str) -> str:
    """Whom a platform would count a request against (its token or key)."""
    for name in ("authorization", "access-token", "x-api-key"):
        if headers.get(name):
            return f"{name}:{headers[name]}"
    for part in query.split("&"):
        if part.startswith("token="):
            return "token:" + part[6:]
        if part.startswith("key="):  # Google API keys
            return "key:" + part[4:]
    return "anonymous"


@dataclass
class Plan:
    delay_s: float
    endpoint: Endpoint | None = None
    limited: Limit | None = None
    retry_after_s: float = 0.0


@dataclass
class _Row:
    requests: int = 0
    limited: int = 0
    delay_s: float = 0.0


@dataclass
class LatencyModel:
    """The model's switch, seed and scale, its random generators and rate-limit windows."""

    enabled: bool = False
    seed: int = 1
    scale: float = 1.0
    defaults: tuple[bool, int, float] = (False, 1, 1.0)
    _rngs: dict[str, random.Random] = field(default_factory=dict)
    _windows: dict[tuple[str, str, float], deque[float]] = field(default_factory=dict)
    _stats: dict[str, _Row] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, *, enabled: bool | None = None, seed: int | None = None, scale: float | None = None) -> None:
        """Change the switch, seed or scale; generators, windows and counters start afresh."""
        if scale is not None and (not math.isfinite(scale) or scale < 0):
            raise ValueError("scale must be a finite number >= 0")
        with self._lock:
            self.enabled = self.enabled if enabled is None else enabled
            self.seed = self.seed if seed is None else seed
            self.scale = self.scale if scale is None else scale
            self._rngs.clear()
            self._windows.clear()
            self._stats.clear()

    def set_defaults(self, *, enabled: bool, seed: int, scale: float) -> None:
        """What the process starts with and `reset()` returns to (settings, CLI flags)."""
        self.defaults = (enabled, seed, scale)
        self.reset()

    def reset(self) -> None:
        enabled, seed, scale = self.defaults
        self.configure(enabled=enabled, seed=seed, scale=scale)

    def plan(self, method: str, path: str, headers: Mapping[str, str], query: str = "", body_bytes: int = 0) -> Plan:
        """The delay for this request, and whether a rate limit turns it into a 429."""
        if not self.enabled:
            return Plan(0.0)
        endpoint = match(method, path)
        if endpoint is None:
            return Plan(0.0)
        row_key = f"{endpoint.method} {endpoint.pattern}"
        with self._lock:
            rng = self._rngs.get(row_key)
            if rng is None:
                rng = self._rngs[row_key] = random.Random(f"{self.seed}:{row_key}")
            delay = endpoint.latency.sample_ms(rng, body_bytes) / 1000 * self.scale
            limited: Limit | None = None
            retry_after = 0.0
            if endpoint.limits:
                who = credential_key(headers, query)
                scope = f"{row_key}|{path.rstrip('/')}" if endpoint.per_path else row_key
                now = time.monotonic()
                windows = [self._window(scope, who, limit) for limit in endpoint.limits]
                for limit, window in zip(endpoint.limits, windows, strict=True):
                    while window and window[0] <= now - limit.window_s:
                        window.popleft()
                    if len(window) >= limit.requests:
                        limited = limit
                        retry_after = max(retry_after, window[0] + limit.window_s - now)
                if limited is None:
                    for window in windows:
                        window.append(now)
            row = self._stats.setdefault(row_key, _Row())
            row.requests += 1
            row.delay_s += delay
            row.limited += limited is not None
        return Plan(delay, endpoint, limited, retry_after)

    def _window(self, scope: str, who: str, limit: Limit) -> deque[float]:
        key = (f"{scope}|{who}", str(limit.requests), limit.window_s)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        return window

    def describe(self) -> dict[str, object]:
        with self._lock:
            stats = {k: (v.requests, v.limited, round(v.delay_s, 3)) for k, v in self._stats.items()}
        rows = []
        for endpoint in endpoints():
            key = f"{endpoint.method} {endpoint.pattern}"
            requests, limited, delay = stats.get(key, (0, 0, 0.0))
            rows.append(
                {
                    "pattern": endpoint.pattern,
                    "method": endpoint.method,
                    "median_ms": endpoint.latency.median_ms,
                    "p99_ms": endpoint.latency.p99_ms,
                    "per_mib_ms": endpoint.latency.per_mib_ms,
                    "limits": [{"requests": lim.requests, "window_s": lim.window_s} for lim in endpoint.limits],
                    "source": endpoint.source,
                    "per_path": endpoint.per_path,
                    "requests": requests,
                    "limited": limited,
                    "delay_s": delay,
                }
            )
        return {"enabled": self.enabled, "seed": self.seed, "scale": self.scale, "endpoints": rows}


MODEL = LatencyModel()


def configure_from(values: Mapping[str, object], *, keys: Iterable[str] = ("enabled", "seed", "scale")) -> None:
    """Apply a control-API body (`{"enabled": .., "seed": .., "scale": ..}`), checking types."""
    unknown = set(values) - set(keys)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    enabled = values.get("enabled")
    seed = values.get("seed")
    scale = values.get("scale")
    if enabled is not None and not isinstance(enabled, bool):
        raise ValueError("enabled must be a boolean")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)):
        raise ValueError("scale must be a number")
    MODEL.configure(enabled=enabled, seed=seed, scale=None if scale is None else float(scale))
