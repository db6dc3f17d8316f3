"""What every benchmark shares: the run's provenance (machine, date, command, load) for its JSON,
and starting the sandbox with the latency model (on by default in benchmarks).

    from common import add_latency_args, finish_info, run_info, start_sandbox, start_stack

    info = run_info()                      # at the start: machine, date, command, load average
    sandbox, url = start_sandbox(port, env, latency=args.latency, seed=args.latency_seed)
    ...
    figures = {**finish_info(info), ...}   # adds the load average at the end and the duration

`start_stack(tmp, args, **env)` starts the whole stack a service-level benchmark needs (embedded
Postgres migrated to head, Redis, the sandbox with the latency model) and `stack.stop()` ends it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() or None
    return f"{commit}+dirty" if commit and dirty.stdout.strip() else commit


def _shown(name: str) -> bool:
    return not any(word in name for word in ("SECRET", "TOKEN", "KEY", "PASSWORD", "URL"))


def run_info() -> dict[str, Any]:
    """Provenance of this run, taken at its start."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
        "commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory_gib": _memory_gib(),
            "system": f"{platform.system()} {platform.release()} {platform.machine()}",
            "python": sys.version.split()[0],
        },
        # settings given through the environment (REELFLOW_*), which change what is measured
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("REELFLOW_") and _shown(k)},
        "load_average_start": load_average(),
        "_started": time.monotonic(),
    }


def finish_info(info: dict[str, Any]) -> dict[str, Any]:
    """The provenance with the load at the end and the wall time of the whole run."""
    out = {k: v for k, v in info.items() if not k.startswith("_")}
    out["load_average_end"] = load_average()
    out["wall_seconds"] = round(time.monotonic() - info["_started"], 1)
    return out


def add_latency_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--latency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the sandbox's latency and rate-limit model (default: on)",
    )
    parser.add_argument("--latency-seed", type=int, default=1)
    parser.add_argument("--latency-scale", type=float, default=1.0, help="multiply every modelled delay")


def latency_info(args: argparse.Namespace) -> dict[str, Any]:
    return {"enabled": args.latency, "seed": args.latency_seed, "scale": args.latency_scale}


def start_sandbox(
    port: int,
    env: dict[str, str],
    *,
    latency: bool,
    seed: int = 1,
    scale: float = 1.0,
    timeout_s: float = 60.0,
) -> subprocess.Popen[bytes]:
    """`reelflow sandbox` in a subprocess on `port`, waiting until it answers."""
    flags = ["--latency", "--latency-seed", str(seed), "--latency-scale", str(scale)] if latency else ["--no-latency"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", "sandbox", "--port", str(port), *flags],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/sandbox/health", timeout=1).is_success:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError("sandbox did not start")
        time.sleep(0.1)


@dataclass
class Stack:
    """Embedded Postgres and Redis and the sandbox, started by `start_stack`."""

    pg: Any
    redis: subprocess.Popen[bytes] | None
    sandbox: subprocess.Popen[bytes]
    url: str  # the sandbox

    def stop(self) -> None:
        self.sandbox.terminate()
        self.sandbox.wait(timeout=10)
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        self.pg.cleanup()


def start_stack(tmp: Path, args: argparse.Namespace, *, sandbox_only: bool = False, **env: str) -> Stack:
    """Embedded Postgres (migrated to head) and Redis in `tmp`, this process's settings pointed at
    them and at a sandbox on a free port (`env` adds settings, e.g. REELFLOW_QUOTAS__ENABLED),
    and that sandbox started with the latency model from `add_latency_args`. `sandbox_only`
    drops platform host overrides (`REELFLOW_*_BASE_URL`/`_AUTH_URL`) from the environment so
    every platform call goes to that sandbox."""
    if sandbox_only:
        for key in [k for k in os.environ if k.startswith("REELFLOW_") and k.endswith(("_BASE_URL", "_AUTH_URL"))]:
            del os.environ[key]
    from reelflow.settings import reset_settings_cache
    from reelflow.storage.embedded import free_port, start_postgres, start_redis
    from reelflow.storage.migrate import upgrade

    pg, database_url = start_postgres(tmp / "postgres", cleanup_mode="delete")
    redis_proc, redis_url = start_redis(tmp / "redis")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REELFLOW_DATA_DIR": str(tmp / "data"),
        "REELFLOW_SANDBOX__URL": url,
        "REELFLOW_LOG__LEVEL": "WARNING",
    }
    os.environ.update({**settings, **env})  # `env` may override the defaults (the log level)
    reset_settings_cache()
    upgrade("head")
    sandbox = start_sandbox(
        port, dict(os.environ), latency=args.latency, seed=args.latency_seed, scale=args.latency_scale
    )
    return Stack(pg=pg, redis=redis_proc, sandbox=sandbox, url=url)


def sandbox_latency_report(url: str) -> list[dict[str, Any]]:
    """The model's rows that saw traffic (requests, total delay, 429s), for the JSON."""
    try:
        described = httpx.get(f"{url}/sandbox/latency", timeout=5).json()
    except httpx.HTTPError:
        return []
    return [row for row in described.get("endpoints", []) if row.get("requests")]


def _stamp(argv: list[str]) -> int:
    """`python bench/common.py --json PATH -- COMMAND...`: run a benchmark that writes its own
    JSON to PATH, then add this run's provenance (date, command, commit, machine, load) to it."""
    import json

    if "--" not in argv or argv[:1] != ["--json"] or len(argv) < 4:
        print(_stamp.__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    command = argv[argv.index("--") + 1 :]
    sys.argv = command  # so that run_info records the benchmark's own command line
    info = run_info()
    info["command"] = shlex.join(command)
    rc = subprocess.call(command, cwd=ROOT)
    if rc == 0 and path.exists():
        figures = json.loads(path.read_text())
        provenance = finish_info(info)
        path.write_text(json.dumps({**provenance, **figures, "provenance": provenance}, indent=2) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(_stamp(sys.argv[1:]))


def cpu_snapshot(sandbox_pid: int | None, pg_dir: Path | None) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process, the sandbox process and the
    embedded Postgres (postmaster, its live backends and the ones it has reaped). The
    difference of two snapshots says where a phase's CPU went: on a shared machine a phase
    bound by CPU is slow for a reason the latency model does not explain."""
    import psutil

    def own(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    out = {"bench": own(psutil.Process())}
    if sandbox_pid is not None:
        try:
            out["sandbox"] = own(psutil.Process(sandbox_pid))
        except psutil.Error:
            pass
    pid_files = sorted(pg_dir.rglob("postmaster.pid")) if pg_dir is not None and pg_dir.exists() else []
    if pid_files:
        try:
            master = psutil.Process(int(pid_files[0].read_text().split()[0]))
            times = master.cpu_times()
            total = float(times.user + times.system + times.children_user + times.children_system)
            for child in master.children(recursive=True):
                try:
                    total += own(child)
                except psutil.Error:
                    pass
            out["postgres"] = total
        except (psutil.Error, ValueError, IndexError, OSError):
            pass
    return {k: round(v, 2) for k, v in out.items()}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 2) for k in after if k in before}


# --- served apps -------------------------------------------------------------------------------


def serve(
    app: str, port: int, env: dict[str, str], app_dir: Path | None = None, workers: int = 1
) -> subprocess.Popen[bytes]:
    """`app` (an app factory) under uvicorn on loopback, `workers` processes, once it answers."""
    command = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--workers", str(workers)]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{app} exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"{app} did not start")
        time.sleep(0.2)


def processes_cpu_s(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds (user + system) these processes and their children (uvicorn's worker
    processes) used so far: the cost per request, which load distorts far less than latency."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            parent = psutil.Process(proc.pid)
            members = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            continue
        for p in members:
            try:
                times = p.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total
