"""ffmpeg children that die with their worker, and media work that stops when asked.

- `spawn(argv)` starts a child in its own process group (so a signal meant for the worker's
  group — Ctrl-C, a supervisor's killpg — does not kill it mid-render and fail the project),
  with the kernel told to SIGKILL it when the worker dies (PR_SET_PDEATHSIG, so it dies with
  the worker even after a SIGKILL), and records its pid under `<data_dir>/children/`.
- `reap_orphans()` (called when a worker starts) kills recorded children whose worker is
  gone: the check at start for anything the kernel could not take down.
- `in_thread(fn, ...)` runs blocking media work (ffmpeg, whisper) in a thread; cancelling the
  awaiting task (a cancel, a timeout, a worker stopping) kills that call's ffmpeg children
  and sets a flag that `checkpoint()` (whisper, between segments) turns into `Interrupted`,
  then waits for the thread to end, so nothing keeps running after the job let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reelflow.errors import Retryable
from reelflow.logs import get_logger
from reelflow.settings import get_settings

T = TypeVar("T")
log = get_logger("reelflow.media")
_PR_SET_PDEATHSIG = 1
_local = threading.local()
_all: set[subprocess.Popen[bytes]] = set()
_all_lock = threading.Lock()

try:
    _libc: Any = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: no parent-death signal (the orphan check still runs)
    _libc = None


class Interrupted(Retryable):
    """The media call was asked to stop (its job was cancelled or its worker is stopping)."""


def _die_with_parent() -> None:  # runs in the child between fork and exec: keep it minimal
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _registry() -> Path:
    return get_settings().resolved_data_dir / "children"


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start a tracked child (own process group, dies with this process)."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    with _all_lock:
        _all.add(proc)
    procs: set[subprocess.Popen[bytes]] | None = getattr(_local, "procs", None)
    if procs is not None:
        procs.add(proc)
    with contextlib.suppress(OSError):
        folder = _registry()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(proc.pid)).write_text(f"{os.getpid()}\n{Path(argv[0]).name}\n")
    event: threading.Event | None = getattr(_local, "event", None)
    if event is not None and event.is_set():
        _kill(proc)
    return proc


def finished(proc: subprocess.Popen[bytes]) -> None:
    """Forget a child that has exited."""
    with _all_lock:
        _all.discard(proc)
    procs: set[subprocess.Popen[bytes]] | None = getattr(_local, "procs", None)
    if procs is not None:
        procs.discard(proc)
    with contextlib.suppress(OSError):
        (_registry() / str(proc.pid)).unlink()


def run(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run a tracked child to the end: (returncode, stdout, stderr)."""
    checkpoint()
    proc = spawn(argv)
    try:
        out, err = proc.communicate()
    finally:
        finished(proc)
    return proc.returncode, out, err


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def kill_all() -> int:
    """Kill every child this process started that still runs (worker exit)."""
    with _all_lock:
        running = [p for p in _all if p.poll() is None]
    for proc in running:
        _kill(proc)
    return len(running)


def reap_orphans() -> int:
    """Kill recorded children whose worker process no longer exists; returns how many."""
    folder = _registry()
    if not folder.is_dir():
        return 0
    killed = 0
    for entry in folder.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            owner_text, binary = [*entry.read_text().split(), "", ""][:2]
            owner = int(owner_text)
        except (OSError, ValueError):
            owner, binary = 0, ""
        if owner and _alive(owner) and owner != os.getpid():
            continue  # another live worker's child
        if _alive(pid) and binary and binary in _cmdline(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            killed += 1
            log.warning("media.orphan_killed", pid=pid, binary=binary)
        with contextlib.suppress(OSError):
            entry.unlink()
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def checkpoint() -> None:
    """Raise `Interrupted` when the current media call was asked to stop."""
    event: threading.Event | None = getattr(_local, "event", None)
    if event is not None and event.is_set():
        raise Interrupted("stopped on request")


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`asyncio.to_thread`, but cancelling it stops the work (children killed, checkpoints raise)."""
    event = threading.Event()
    procs: set[subprocess.Popen[bytes]] = set()

    def target() -> T:
        _local.event, _local.procs = event, procs
        try:
            return fn(*args, **kwargs)
        finally:
            _local.event = _local.procs = None

    future = asyncio.ensure_future(asyncio.to_thread(target))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        event.set()
        for proc in list(procs):
            _kill(proc)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(future), timeout=30)
        raise
