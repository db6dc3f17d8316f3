"""The one function RQ executes: `execute(run_id)`. Task names and args live in Postgres.

Each thread keeps one event loop for its whole life (and with it one database pool), so
consecutive jobs reuse connections; see docs/runtime.md for the measurement.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

from reelflow.queue.executor import execute_run

_local = threading.local()


def _loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def execute(run_id: str) -> str:
    """RQ entry point: run the next attempt of run `run_id`."""
    return _loop().run_until_complete(execute_run(uuid.UUID(run_id)))


def close_thread_loop() -> None:
    """Dispose this thread's pool and close its loop (end of a burst, worker exit)."""
    from reelflow.queue.executor import close_executor_connection
    from reelflow.storage.db import dispose_engine

    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(close_executor_connection())
        loop.run_until_complete(dispose_engine())
        loop.close()
    _local.loop = None
