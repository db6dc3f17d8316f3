"""Chaos suite: the Procfile topology broken on purpose, one scenario at a time.

    python bench/chaos.py [--runs 6] [--imports 1] [--redis-outage-s 30] [--pg-outage-s 20]
                          [--sandbox-outage-s 30] [--only NAME,...] [--json PATH]
    make chaos

Starts, each with its own data folder (no shared disk, like dynos): embedded Postgres, Redis
and S3 (SeaweedFS); the platform sandbox; `web`, two `worker`s (high,default) and a `media`
worker — the Procfile's processes (the `flows` process needs a Prefect server and is left
out: its schedules only enqueue the same runtime jobs that are submitted here). For every
scenario it submits a mixed load through the HTTP API (runtime diagnostics that sleep,
monitoring polls against the sandbox, URL imports that transcribe and render), breaks
something, restores it, and waits until every submitted run ends:

  kill_workers     SIGKILL a worker and the media worker mid-job (both restarted)
  flush_redis      FLUSHALL on Redis
  stop_redis       Redis stopped for --redis-outage-s, then started again
  stop_postgres    Postgres stopped for --pg-outage-s, then started again
  sandbox_down     the platforms (sandbox) down for --sandbox-outage-s
  deploy_sigterm   SIGTERM to every process (a deploy); exits timed; all started again

A run is `lost` when it ends failed or cancelled, `stuck` when it has not ended by the
deadline, `duplicated` when it succeeded twice (two `succeeded` events) or a project holds
more clips than asked for. `recovery_s`: from the fault being cleared until every run the
fault caught (in flight or waiting) was started again or ended (from the runs' events);
`all_done_s`: until the last run ended (includes the work itself, e.g. a 97 s source
transcribed and rendered). `max_recovery_s` is the worst `recovery_s`. After `sandbox_down`,
a poll must succeed again (the circuit breaker closed). Targets: lost == duplicated == stuck == 0, max_recovery_s <= 30.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCENARIOS = ("kill_workers", "flush_redis", "stop_redis", "stop_postgres", "sandbox_down", "deploy_sigterm")
MEDIA_SETTINGS = {
    "REELFLOW_CLIPPING__DEFAULT_PRESET": "preview_540",
    "REELFLOW_MEDIA__X264_PRESET": "ultrafast",
    "REELFLOW_MEDIA__WHISPER_BEAM_SIZE": "1",
}


def _free_port() -> int:
    from reelflow.storage.embedded import free_port

    return free_port()


def _pg_ctl() -> str:
    import pgserver

    return os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", "pg_ctl")


def _as_pg_user() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("pgserver")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@dataclass
class Topology:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pg: Any = None
    redis_proc: subprocess.Popen[bytes] | None = None
    weed_proc: subprocess.Popen[bytes] | None = None
    web_port: int = 0
    sandbox_port: int = 0

    # --- engines -----------------------------------------------------------------------
    def start_engines(self) -> None:
        from cryptography.fernet import Fernet

        from reelflow.storage.embedded import start_postgres, start_redis, start_seaweedfs

        self.pg, database_url = start_postgres(self.root / "postgres", cleanup_mode=None)
        self.redis_proc, redis_url = start_redis(self.root / "redis")
        self.weed_proc, blob_env = start_seaweedfs(self.root / "seaweedfs")
        self.web_port, self.sandbox_port = _free_port(), _free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "PREFECT_"))},
            **blob_env,
            **MEDIA_SETTINGS,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REELFLOW_ENV": "dev",
            "REELFLOW_LOG__LEVEL": "WARNING",
            "REELFLOW_SECRETS__SIGNING_SECRET": uuid.uuid4().hex,
            "REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "REELFLOW_SANDBOX__URL": f"http://127.0.0.1:{self.sandbox_port}",
            "REELFLOW_WEB__SIGNUP_RATE_LIMIT_PER_MINUTE": "1000",
        }
        subprocess.run([sys.executable, "-m", "reelflow.cli", "db", "upgrade"], env=self._env("release"),
                       check=True, capture_output=True)  # fmt: skip

    def _env(self, name: str) -> dict[str, str]:
        folder = self.root / "dynos" / name
        folder.mkdir(parents=True, exist_ok=True)
        return {**self.env, "REELFLOW_DATA_DIR": str(folder)}

    def stop_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.terminate()
        self.redis_proc.wait(10)

    def start_redis(self) -> None:
        from reelflow.storage.embedded import start_redis

        self.redis_proc, url = start_redis(self.root / "redis")
        assert url == self.env["REDIS_URL"]

    def flush_redis(self) -> None:
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushall()

    def stop_postgres(self) -> None:
        subprocess.run([_pg_ctl(), "-D", str(self.root / "postgres"), "-m", "fast", "-w", "stop"], check=True,
                       capture_output=True, **_as_pg_user())  # fmt: skip

    def start_postgres(self) -> None:
        pgdata = self.root / "postgres"
        subprocess.run(
            [_pg_ctl(), "-D", str(pgdata), "-w", "-o", f"-k {pgdata} -c listen_addresses=''",
             "-l", str(pgdata / "restart.log"), "start"],
            check=True, capture_output=True, **_as_pg_user(),
        )  # fmt: skip

    # --- processes -----------------------------------------------------------------------
    def start(self, name: str) -> None:
        args = {
            "sandbox": ["sandbox", "--port", str(self.sandbox_port)],
            "web": ["web", "--port", str(self.web_port)],
            "worker1": ["worker", "--queues", "high,default"],
            "worker2": ["worker", "--queues", "high,default"],
            "media": ["worker", "--queues", "media"],
        }[name]
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli", *args],
            env=self._env(name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_all(self) -> None:
        for name in ("sandbox", "web", "worker1", "worker2", "media"):
            self.start(name)
        self.wait_http(f"http://127.0.0.1:{self.sandbox_port}/sandbox/health")
        self.wait_http(f"{self.api}/readyz")

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_http(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        proc.wait(60)

    def sigterm_all(self, names: list[str]) -> dict[str, float]:
        started = time.monotonic()
        for name in names:
            os.kill(self.procs[name].pid, signal.SIGTERM)
        exits: dict[str, float] = {}
        for name in names:
            try:
                self.procs[name].wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.procs[name].pid, signal.SIGKILL)
                self.procs[name].wait()
            exits[name] = round(time.monotonic() - started, 1)
        return exits

    def stop_everything(self) -> None:
        from reelflow.storage.embedded import stop_seaweedfs

        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.weed_proc is not None:
            stop_seaweedfs(self.weed_proc)
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
        subprocess.run([_pg_ctl(), "-D", str(self.root / "postgres"), "-m", "fast", "-w", "stop"], check=False,
                       capture_output=True, **_as_pg_user())  # fmt: skip


# --- load -----------------------------------------------------------------------------------


@dataclass
class Submitted:
    runs: list[str] = field(default_factory=list)  # job run ids (diagnostics, polls)
    projects: list[tuple[str, int]] = field(default_factory=list)  # (project id, clips asked for)
    polls: list[str] = field(default_factory=list)


async def _retrying(call: Any, *, attempts: int = 60) -> httpx.Response:
    """A client that retries 5xx/connection errors (with the same Idempotency-Key)."""
    for _ in range(attempts):
        try:
            response: httpx.Response = await call()
            if response.status_code < 500:
                return response
        except httpx.HTTPError:
            pass
        await asyncio.sleep(1)
    raise RuntimeError("the API did not answer")


async def submit(api: httpx.AsyncClient, headers: dict[str, str], rule_id: str, runs: int, imports: int,
                 sandbox_url: str) -> Submitted:  # fmt: skip
    out = Submitted()
    for _ in range(runs):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        response = await _retrying(lambda key=key: api.post(  # type: ignore[misc]
            "/api/v1/jobs/diagnostics", json={"fail_times": 0, "sleep_s": 3}, headers={**headers, **key}))  # fmt: skip
        out.runs.append(response.json()["id"])
    key = {"Idempotency-Key": uuid.uuid4().hex}
    poll = await _retrying(lambda: api.post(f"/api/v1/monitoring/rules/{rule_id}/poll", headers={**headers, **key}))
    out.runs.append(poll.json()["id"])
    out.polls.append(poll.json()["id"])
    for _ in range(imports):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"url": f"{sandbox_url}/sandbox/media/sample-talk.mp4",
                "options": {"min_len_s": 5, "max_len_s": 12, "top_n": 1}}  # fmt: skip
        created = await _retrying(lambda body=body, key=key: api.post(  # type: ignore[misc]
            "/api/v1/projects", json=body, headers={**headers, **key}))  # fmt: skip
        out.projects.append((created.json()["id"], 1))
    return out


async def wait_until_done(api: httpx.AsyncClient, headers: dict[str, str], sub: Submitted,
                          limit_s: float) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + limit_s
    while True:
        statuses: dict[str, str] = {}
        for run_id in sub.runs:
            try:
                response = await api.get(f"/api/v1/jobs/{run_id}", headers=headers, timeout=5)
                statuses[run_id] = response.json()["status"] if response.status_code == 200 else "unknown"
            except httpx.HTTPError:
                statuses[run_id] = "unknown"
        projects: dict[str, str] = {}
        for project_id, _ in sub.projects:
            try:
                response = await api.get(f"/api/v1/projects/{project_id}", headers=headers, timeout=5)
                projects[project_id] = response.json()["status"] if response.status_code == 200 else "unknown"
            except httpx.HTTPError:
                projects[project_id] = "unknown"
        open_runs = [r for r, s in statuses.items() if s not in ("succeeded", "failed", "cancelled")]
        open_projects = [p for p, s in projects.items() if s not in ("clips_ready", "failed")]
        if (not open_runs and not open_projects) or time.monotonic() > deadline:
            return {"runs": statuses, "projects": projects, "done_at": time.monotonic()}
        await asyncio.sleep(0.5)


async def _events(api: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    body = (await api.get(f"/api/v1/jobs/{run_id}/events?limit=500", headers=headers)).json()
    return list(body["items"] if isinstance(body, dict) else body)


async def _pipeline_runs(api: httpx.AsyncClient, headers: dict[str, str], project_id: str) -> list[str]:
    """A project's pipeline run and its child runs (the steps that a fault interrupts)."""
    project = (await api.get(f"/api/v1/projects/{project_id}", headers=headers)).json()
    if not project.get("run_id"):
        return []
    children = (await api.get(f"/api/v1/jobs?parent_id={project['run_id']}&limit=200", headers=headers)).json()
    return [project["run_id"], *[c["id"] for c in children.get("items", [])]]


async def resumed_after(api: httpx.AsyncClient, headers: dict[str, str], sub: Submitted, fault_at: float,
                        cleared_at: float) -> float:  # fmt: skip
    """Seconds from the fault being cleared until every run the fault caught worked again: for
    each run busy or waiting when the fault struck, its first start (or end) after the fault."""
    from datetime import datetime

    run_ids = list(sub.runs)
    for project_id, _ in sub.projects:
        run_ids += await _pipeline_runs(api, headers, project_id)
    worst = 0.0
    for run_id in run_ids:
        events = await _events(api, headers, run_id)
        times = [(e["type"], datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()) for e in events]
        if not times or min(t for _, t in times) > cleared_at:
            continue  # submitted after the fault: nothing to recover
        if any(t in ("succeeded", "failed", "cancelled") and at < fault_at for t, at in times):
            continue  # done before the fault
        after = [at for t, at in times if at >= fault_at and t in ("started", "succeeded", "resumed", "waiting")]
        if after:
            worst = max(worst, min(after) - cleared_at)
    return max(0.0, worst)


async def judge(api: httpx.AsyncClient, headers: dict[str, str], sub: Submitted,
                result: dict[str, Any]) -> dict[str, int]:  # fmt: skip
    lost = sum(1 for s in result["runs"].values() if s in ("failed", "cancelled"))
    lost += sum(1 for s in result["projects"].values() if s == "failed")
    stuck = sum(1 for s in result["runs"].values() if s not in ("succeeded", "failed", "cancelled"))
    stuck += sum(1 for s in result["projects"].values() if s not in ("clips_ready", "failed"))
    duplicated = 0
    for run_id in sub.runs:
        if sum(1 for e in await _events(api, headers, run_id) if e["type"] == "succeeded") > 1:
            duplicated += 1
    for project_id, asked in sub.projects:
        clips = (await api.get(f"/api/v1/projects/{project_id}/clips", headers=headers)).json()
        if len(clips) > asked:
            duplicated += 1
    return {"runs": len(sub.runs) + len(sub.projects), "lost": lost, "stuck": stuck, "duplicated": duplicated}


# --- scenarios ------------------------------------------------------------------------------


async def _wait_running(api: httpx.AsyncClient, headers: dict[str, str], limit_s: float = 60) -> None:
    """Until some run is executing (so that the fault hits work in flight)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        listed = (await api.get("/api/v1/jobs?status=running", headers=headers)).json()
        if listed.get("items"):
            return
        await asyncio.sleep(0.2)


async def run_scenario(name: str, topo: Topology, api: httpx.AsyncClient, headers: dict[str, str], rule_id: str,
                       args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    imports = args.imports if name in ("kill_workers", "deploy_sigterm") else 0
    sub = await submit(api, headers, rule_id, args.runs, imports, f"http://127.0.0.1:{topo.sandbox_port}")
    await _wait_running(api, headers)
    extra: dict[str, Any] = {}
    fault_at, fault_wall = time.monotonic(), time.time()
    if name == "kill_workers":
        if imports:  # wait for the media worker to be busy with the project
            await asyncio.sleep(3)
        topo.kill("worker1")
        topo.kill("media")
        topo.start("worker1")
        topo.start("media")
    elif name == "flush_redis":
        topo.flush_redis()
    elif name == "stop_redis":
        topo.stop_redis()
        await asyncio.sleep(args.redis_outage_s)
        topo.start_redis()
    elif name == "stop_postgres":
        topo.stop_postgres()
        await asyncio.sleep(args.pg_outage_s)
        topo.start_postgres()
    elif name == "sandbox_down":
        topo.kill("sandbox")
        later = await submit(api, headers, rule_id, 0, 0, "")  # a poll while the platforms are down
        sub.runs += later.runs
        sub.polls += later.polls
        await asyncio.sleep(args.sandbox_outage_s)
        topo.start("sandbox")
        topo.wait_http(f"http://127.0.0.1:{topo.sandbox_port}/sandbox/health")
    elif name == "deploy_sigterm":
        if imports:
            await asyncio.sleep(3)
        extra["stop_s"] = topo.sigterm_all(["web", "worker1", "worker2", "media"])
        for proc in ("web", "worker1", "worker2", "media"):
            topo.start(proc)
        topo.wait_http(f"{topo.api}/readyz")
    cleared_at, cleared_wall = time.monotonic(), time.time()
    result = await wait_until_done(api, headers, sub, limit_s=args.timeout)
    counts = await judge(api, headers, sub, result)
    recovery = await resumed_after(api, headers, sub, fault_wall, cleared_wall)
    if name == "sandbox_down":  # the breaker closed again: a poll after the outage succeeds
        after = await submit(api, headers, rule_id, 0, 0, "")
        check = await wait_until_done(api, headers, after, limit_s=120)
        extra["breaker_closed"] = all(s == "succeeded" for s in check["runs"].values())
    return {
        "scenario": name,
        **counts,
        "fault_s": round(cleared_at - fault_at, 1),
        "recovery_s": round(recovery, 1),
        "all_done_s": round(result["done_at"] - cleared_at, 1),
        **extra,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="rf-chaos-"))
    topo = Topology(root)
    chosen = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
    results: list[dict[str, Any]] = []
    try:
        topo.start_engines()
        topo.start_all()
        async with httpx.AsyncClient(base_url=topo.api, timeout=30) as api:
            signed = await api.post("/api/v1/signup", json={"email": "chaos@example.com", "workspace_name": "Chaos"})
            headers = {"Authorization": f"Bearer {signed.json()['token']['token']}"}
            spec = {"name": "chaos", "kind": "hashtag", "values": ["fitness"]}
            rule = await api.post("/api/v1/monitoring/rules", json=spec, headers=headers)
            rule_id = rule.json()["id"]
            for name in chosen:
                print(f"scenario {name} …", flush=True)
                outcome = await run_scenario(name, topo, api, headers, rule_id, args)
                print("  " + json.dumps(outcome), flush=True)
                results.append(outcome)
    finally:
        topo.stop_everything()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"logs kept in {root}")
    return {
        "scenarios": results,
        "runs": sum(r["runs"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "duplicated": sum(r["duplicated"] for r in results),
        "stuck": sum(r["stuck"] for r in results),
        "max_recovery_s": max((r["recovery_s"] for r in results), default=0.0),
        "settings": {
            k: getattr(args, k) for k in ("runs", "imports", "redis_outage_s", "pg_outage_s", "sandbox_outage_s")
        },
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'scenario':<16}{'runs':>6}{'lost':>6}{'dup':>5}{'stuck':>7}{'fault s':>9}{'recovery s':>12}"
          f"{'all done s':>12}  notes")  # fmt: skip
    for r in report["scenarios"]:
        notes = []
        if "stop_s" in r:
            notes.append("exit after SIGTERM: " + ", ".join(f"{k} {v}s" for k, v in r["stop_s"].items()))
        if "breaker_closed" in r:
            notes.append(f"breaker closed: {r['breaker_closed']}")
        print(f"{r['scenario']:<16}{r['runs']:>6}{r['lost']:>6}{r['duplicated']:>5}{r['stuck']:>7}"
              f"{r['fault_s']:>9}{r['recovery_s']:>12}{r['all_done_s']:>12}  {'; '.join(notes)}")  # fmt: skip
    print(f"total: runs {report['runs']}, lost {report['lost']}, duplicated {report['duplicated']}, "
          f"stuck {report['stuck']}, max recovery {report['max_recovery_s']} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=6, help="diagnostic runs per scenario (plus one poll)")
    parser.add_argument("--imports", type=int, default=1, help="URL imports in the kill and deploy scenarios")
    parser.add_argument("--redis-outage-s", type=float, default=30)
    parser.add_argument("--pg-outage-s", type=float, default=20)
    parser.add_argument("--sandbox-outage-s", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for a scenario's runs to end")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and process logs")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    print_table(report)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    ok = report["lost"] == report["duplicated"] == report["stuck"] == 0 and report["max_recovery_s"] <= 30
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
