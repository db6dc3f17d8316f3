"""Structured logs (structlog) with request/run context and masking of secrets and PII."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api[_-]?key|signature|cookie|code_verifier)", re.I)
PII_KEYS = re.compile(r"(email|phone|ip_address|first_name|last_name|full_name)", re.I)
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
LONG_TOKEN = re.compile(r"\brf_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{8,}\b")
# Free text only: international numbers (+...). Fields named like phones are masked by key,
# and bare digit runs are left alone: ids (run UUIDs, 19-digit TikTok ids) look the same.
PHONE = re.compile(r"(?<![\w+])\+\d[\d\s().-]{7,}\d(?![\w-])")
# Secrets in URLs (httpx request lines, signed links): ?access_token=..., &sig=..., &token=...
QUERY_SECRET = re.compile(
    r"([?&](?:[A-Za-z_]*token|sig|signature|[A-Za-z_]*secret|code|api_?key|password)=)[^&\s\"'#]+", re.I
)


def mask_value(value: str) -> str:
    value = BEARER.sub(r"\1***", value)
    value = QUERY_SECRET.sub(r"\1***", value)
    value = LONG_TOKEN.sub("rf_***", value)
    value = EMAIL.sub(r"\1***@\2", value)
    return PHONE.sub("***phone***", value)


def _mask(obj: Any, key: str = "") -> Any:
    if key and SECRET_KEYS.search(key) and obj not in (None, ""):
        return "***"
    if key and PII_KEYS.search(key) and isinstance(obj, str):
        return mask_value(obj) if "@" in obj else "***"
    if isinstance(obj, str):
        return mask_value(obj)
    if isinstance(obj, dict):
        return {k: _mask(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_mask(v) for v in obj)
    return obj


def mask_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets by key and PII by shape, everywhere in the event."""
    return {k: (v if k in {"timestamp", "level", "logger"} else _mask(v, k)) for k, v in event_dict.items()}


_configured = False
_record_factory_installed = False


def mask_stdlib_records() -> None:
    """Mask every stdlib log record of this process (Prefect's run logs, httpx's request
    lines, libraries) like structlog events: the message is rendered and masked when the
    record is made, so every handler (console, Prefect's API handler) sees the masked text."""
    global _record_factory_installed
    if _record_factory_installed:
        return
    _record_factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed format string: the handler reports it
            return record
        masked = mask_value(message)
        if masked == message:
            return record  # nothing to hide: the record keeps its arguments
        if isinstance(record.args, tuple) and record.args and isinstance(record.msg, str):
            # Formatters that read the arguments (uvicorn's access log unpacks them) keep
            # working: each argument is masked, if that masks the whole message too.
            masked_args = tuple(mask_value(a) if isinstance(a, str) else a for a in record.args)
            try:
                rendered = record.msg % masked_args
            except (TypeError, ValueError):
                rendered = None
            if rendered is not None and mask_value(rendered) == rendered:
                record.args = masked_args
                return record
        record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO", json: bool = False, *, cache: bool = True) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_processor,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=cache,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    mask_stdlib_records()


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


class OutageLog:
    """One log line when a dependency (Postgres, Redis) starts failing and one when it is back,
    however many ticks or requests fail in between (loops and handlers share one per process)."""

    def __init__(self, event: str, logger: Any = None, *, quiet_after_s: float | None = None) -> None:
        import threading

        self.event = event
        self.log = logger or get_logger("reelflow.outage")
        self.since: float | None = None
        self.failures = 0
        self.last_failure = 0.0
        # Where nothing reports success (request handlers): a failure after this many quiet
        # seconds starts a new outage.
        self.quiet_after_s = quiet_after_s
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> bool:
        """Count a failure; True when it starts an outage (and was logged)."""
        import time

        now = time.monotonic()
        with self._lock:
            quiet = self.quiet_after_s is not None and now - self.last_failure > self.quiet_after_s
            self.last_failure = now
            self.failures += 1
            if self.since is not None and not quiet:
                return False
            self.since = now
            self.failures = 1
        self.log.warning(f"{self.event}_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        return True

    def ok(self) -> None:
        import time

        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            after, failures = time.monotonic() - self.since, self.failures
            self.since, self.failures = None, 0
        self.log.warning(f"{self.event}_recovered", after_s=round(after, 1), failures=failures)
