"""Start and stop the child processes of `reelflow dev` and `reelflow demo`.

Each child runs in its own process group, so that stopping it also stops anything it
started; Ctrl-C (or SIGTERM) stops them all and leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Supervisor:
    env: dict[str, str]
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None, quiet: bool = False) -> None:
        out = subprocess.DEVNULL if quiet else None
        self.children[name] = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )

    def start_reelflow(self, name: str, *args: str, env: dict[str, str] | None = None, quiet: bool = False) -> None:
        self.start(name, [sys.executable, "-m", "reelflow.cli", *args], env=env, quiet=quiet)

    def wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Wait until `url` answers 2xx, failing early if the child exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child = self.children.get(name)
            if child is not None and child.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.returncode} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).is_success:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s")

    def first_exited(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self, grace: float = 10.0) -> None:
        for child in self.children.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self.children.values():
            if child.poll() is None:
                _signal_group(child, signal.SIGKILL)
                child.wait()
        self.children.clear()


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
