"""Clocks: the time platform observations are stamped with.

Real platforms run on real time (`SystemClock`). The sandbox runs a simulated clock (moved
forward by tests and the demo) and is read over HTTP (`SandboxClock`, one GET per call).
Which one a process uses is decided in `reelflow.composition`, nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reelflow.adapters import httpclient


class SystemClock:
    async def now(self) -> datetime:
        return datetime.now(UTC)


class SandboxClock:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def now(self) -> datetime:
        response = await httpclient.request(
            "GET", f"{self.base_url}/sandbox/clock", idempotent=True, platform="sandbox"
        )
        return datetime.fromtimestamp(float(response.json()["now"]), UTC)
