"""Chaos suite: the Procfile topology broken on purpose, one scenario at a time.

    python bench/chaos.py [--runs 6] [--imports 1] [--publishes 2] [--flow-polls 1]
                          [--redis-outage-s 30] [--pg-outage-s 20] [--sandbox-outage-s 30]
                          [--only NAME,...] [--keep] [--json PATH]
    make chaos

Starts, each with its own data folder (no shared disk, like dynos): embedded Postgres, Redis
and S3 (SeaweedFS); a real Prefect server (`prefect server start`, SQLite, its own folder: the
stand-in for Prefect Cloud or a managed server); the platform sandbox behind a TCP link that
can be cut (the platforms' network); and the Procfile's processes: `web`, two `worker`s
(high,default), a `media` worker and `flows` (`reelflow flows serve`, every deployment of
prefect.yaml, against that Prefect server). Before the first scenario it imports one video
(the clip that every scenario publishes). For every scenario it submits a mixed load
(runtime diagnostics that sleep; a monitoring poll through the API; a monitoring poll
through the `flows` process: a `monitoring-poll` deployment run created on the Prefect
server for a new, due rule; URL imports that transcribe and render; publishes of the clip
to freshly connected TikTok and YouTube accounts), breaks something, restores it, and waits
until every submitted run ends:

  kill_workers     SIGKILL a worker and the media worker mid-job (both restarted)
  flush_redis      FLUSHALL on Redis
  stop_redis       Redis stopped for --redis-outage-s, then started again
  stop_postgres    Postgres stopped for --pg-outage-s, then started again
  sandbox_down     the platforms unreachable for --sandbox-outage-s (the link to the sandbox
                   cut: connections refused, open ones dropped; the sandbox keeps its state,
                   so that the posts it received can be counted)
  deploy_sigterm   SIGTERM to every Procfile process (web, workers, media, flows: a deploy);
                   exits timed; all started again

A run is `lost` when it ends failed or cancelled, `stuck` when it has not ended by the
deadline, `duplicated` when it succeeded twice (two `succeeded` events) or a project holds
more clips than asked for, or an account holds more than one post at the sandbox (each
publish goes to its own account, so every account must end with exactly one post: counted
on the platform, not in our database; a publication `published` here with no post there is
`lost`). A poll submitted by the flows process is judged by its runtime run (key: rule +
slot): succeeded, or, since a scheduled poll does not retry within its slot (the next slot is
the retry), failed with the error recorded on the rule and its next poll time set
(`failed_rescheduled`, reported apart); anything else is lost or stuck. `recovery_s`: from
the fault being cleared until every run the fault caught (in flight or waiting) was started
again or ended (from the runs' events);
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
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROCFILE = ("web", "worker1", "worker2", "media", "flows")  # the processes a deploy restarts
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


class PlatformLink:
    """A TCP relay between the Reelflow processes and the sandbox: the platforms' network.

    `cut()` closes the listening port and drops every open connection (the platforms are
    unreachable: connection refused); `restore()` listens again on the same port. The sandbox
    process itself keeps running, so what it received (posts, uploads) survives the outage
    and can be counted. Runs its own event loop in a thread: the suite's blocking calls
    (pg_ctl, process waits) never stall the link."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, name="platform-link", daemon=True)
        self.thread.start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self.writers |= {client_w, up_w}
        try:
            await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))
        finally:
            self.writers -= {client_w, up_w}

    async def _restore(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self._call(self._restore())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class Topology:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pg: Any = None
    redis_proc: subprocess.Popen[bytes] | None = None
    weed_proc: subprocess.Popen[bytes] | None = None
    prefect_proc: subprocess.Popen[bytes] | None = None
    link: PlatformLink | None = None
    web_port: int = 0
    sandbox_port: int = 0
    prefect_port: int = 0
    mail_sink: Any = None  # sign-up links are mailed: a local SMTP sink receives them

    # --- engines -----------------------------------------------------------------------
    def start_engines(self) -> None:
        from cryptography.fernet import Fernet

        from reelflow.storage.embedded import start_postgres, start_redis, start_seaweedfs

        self.pg, database_url = start_postgres(self.root / "postgres", cleanup_mode=None)
        self.redis_proc, redis_url = start_redis(self.root / "redis")
        self.weed_proc, blob_env = start_seaweedfs(self.root / "seaweedfs")
        self.web_port, self.sandbox_port, self.prefect_port = _free_port(), _free_port(), _free_port()
        self.link = PlatformLink(self.sandbox_port)
        self.link.restore()
        from reelflow.sandbox.mail import MailSink

        self.mail_sink = MailSink(port=_free_port()).start()
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
            "REELFLOW_SANDBOX__URL": self.platforms_url,
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # the flows process picks up a created run within 2 s
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "REELFLOW_WEB__SIGNUP_RATE_LIMIT_PER_MINUTE": "1000",
            "REELFLOW_MAIL__HOST": self.mail_sink.host,
            "REELFLOW_MAIL__PORT": str(self.mail_sink.port),
        }
        subprocess.run([sys.executable, "-m", "reelflow.cli", "db", "upgrade"], env=self._env("release"),
                       check=True, capture_output=True)  # fmt: skip

    @property
    def platforms_url(self) -> str:
        """Where the Reelflow processes reach the platforms: through the link."""
        assert self.link is not None
        return f"http://127.0.0.1:{self.link.port}"

    @property
    def sandbox_url(self) -> str:
        """The sandbox itself (control and inspection: never cut)."""
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    def start_prefect(self) -> None:
        """A real Prefect server (SQLite in its own folder, no UI): what the `flows` process reports to."""
        home = self.root / "prefect-server"
        home.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "prefect-server.log", "ab")  # noqa: SIM115 - lives as long as the process
        env = {**self.env, "PREFECT_HOME": str(home), "PREFECT_SERVER_UI_ENABLED": "false"}
        self.prefect_proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
             str(self.prefect_port)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def _env(self, name: str) -> dict[str, str]:
        folder = self.root / "dynos" / name
        folder.mkdir(parents=True, exist_ok=True)
        return {**self.env, "REELFLOW_DATA_DIR": str(folder), "PREFECT_HOME": str(folder / "prefect")}

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
            "flows": ["flows", "serve"],
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
        self.start_prefect()
        for name in ("sandbox", "web", "worker1", "worker2", "media"):
            self.start(name)
        self.wait_http(f"{self.sandbox_url}/sandbox/health")
        self.wait_http(f"{self.api}/readyz")
        self.wait_http(f"{self.prefect_api}/health", timeout=180)
        self.start("flows")
        self.wait_deployments()

    def wait_deployments(self, timeout: float = 120) -> None:
        """Until the flows process has registered its deployments on the Prefect server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                url = f"{self.prefect_api}/deployments/name/monitoring-poll/monitoring-poll"
                if httpx.get(url, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            if self.procs["flows"].poll() is not None:
                raise RuntimeError(f"the flows process exited with {self.procs['flows'].returncode}")
            time.sleep(0.5)
        raise RuntimeError(f"the flows process registered no deployment within {timeout:.0f} s")

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

        if self.prefect_proc is not None:
            self.procs["prefect-server"] = self.prefect_proc
        if self.link is not None:
            self.link.close()
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
        if self.mail_sink is not None:
            self.mail_sink.stop()
            self.mail_sink = None
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
    # {"id", "platform", "external_id" (the account at the platform), "job_id"}
    publications: list[dict[str, str]] = field(default_factory=list)
    # {"rule_id", "flow_run_id"}: polls submitted by the flows process for a new, due rule
    flow_polls: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Load:
    """What every scenario's load needs besides the API client: the clip that is published,
    sandbox users to connect as fresh accounts, the Prefect server."""

    topo: Topology
    headers: dict[str, str]
    rule_id: str
    clip_id: str = ""
    users: Iterator[str] = field(default_factory=lambda: iter(()))


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
        response = await _retrying(lambda key=key: api.post(
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
        created = await _retrying(lambda body=body, key=key: api.post(
            "/api/v1/projects", json=body, headers={**headers, **key}))  # fmt: skip
        out.projects.append((created.json()["id"], 1))
    return out


async def connect_account(api: httpx.AsyncClient, headers: dict[str, str], provider: str, user: str) -> dict[str, Any]:
    """OAuth through the API and the sandbox's consent page, as a user's browser would."""
    params = {"login_hint": user} if provider == "google" else {}
    start = await _retrying(lambda: api.get(f"/api/v1/oauth/{provider}/start", params=params, headers=headers))
    url = start.json()["authorize_url"] + (f"&sandbox_user={user}" if provider == "tiktok" else "")
    async with httpx.AsyncClient(timeout=30) as browser:
        consent = await browser.get(url)
    parts = urlsplit(consent.headers["location"])
    response = await _retrying(lambda: api.get(f"{parts.path}?{parts.query}"))
    response.raise_for_status()
    return dict(response.json())


async def submit_publishes(api: httpx.AsyncClient, load: Load, count: int) -> list[dict[str, str]]:
    """`count` publishes of the clip, alternately to TikTok and YouTube, each to a new account."""
    out: list[dict[str, str]] = []
    for i in range(count):
        provider = ("tiktok", "google")[i % 2]
        account = await connect_account(api, load.headers, provider, next(load.users))
        tag = uuid.uuid4().hex[:8]
        if provider == "tiktok":
            path = "/api/v1/publish/tiktok"
            body: dict[str, Any] = {"clip_id": load.clip_id, "account_ids": [account["id"]],
                                    "privacy": "PUBLIC_TO_EVERYONE", "caption": f"chaos {tag}"}  # fmt: skip
        else:
            path = "/api/v1/publish/youtube"
            body = {"clip_id": load.clip_id, "account_ids": [account["id"]], "title": f"chaos {tag}"}
        key = {"Idempotency-Key": uuid.uuid4().hex}
        response = await _retrying(lambda path=path, body=body, key=key: api.post(
            path, json=body, headers={**load.headers, **key}))  # fmt: skip
        if response.status_code >= 400:
            raise RuntimeError(f"publish answered {response.status_code}: {response.text}")
        pub = response.json()["publications"][0]
        out.append({"id": pub["id"], "platform": account["platform"], "external_id": account["external_id"],
                    "job_id": pub["job_id"]})  # fmt: skip
    return out


async def create_flow_run(prefect_api: str, flow: str = "monitoring-poll", deployment: str = "monitoring-poll") -> str:
    """A deployment run on the Prefect server (what a schedule or "Run" in the UI creates); the
    flows process picks it up."""
    async with httpx.AsyncClient(base_url=prefect_api, timeout=30) as prefect:
        # Prefect's own client retries 5xx too (its SQLite answers 503 when busy)
        found = await _retrying(lambda: prefect.get(f"/deployments/name/{flow}/{deployment}"))
        found.raise_for_status()
        url = f"/deployments/{found.json()['id']}/create_flow_run"
        created = await _retrying(lambda: prefect.post(url, json={}))
        created.raise_for_status()
        return str(created.json()["id"])


async def flow_run_state(prefect_api: str, flow_run_id: str) -> str:
    try:
        async with httpx.AsyncClient(base_url=prefect_api, timeout=5) as prefect:
            state = (await prefect.get(f"/flow_runs/{flow_run_id}")).json().get("state") or {}
            return str(state.get("name") or state.get("type") or "unknown")
    except httpx.HTTPError:
        return "unknown"


async def submit_flow_poll(api: httpx.AsyncClient, load: Load, scenario: str) -> dict[str, str]:
    """A new rule (due at once) and a `monitoring-poll` deployment run for the flows process."""
    spec = {"name": f"chaos flow {scenario}", "kind": "hashtag", "values": ["fitness"]}
    rule = await _retrying(lambda: api.post("/api/v1/monitoring/rules", json=spec, headers=load.headers))
    return {"rule_id": rule.json()["id"], "flow_run_id": await create_flow_run(load.topo.prefect_api)}


async def flow_poll_run(api: httpx.AsyncClient, headers: dict[str, str], rule_id: str) -> dict[str, Any] | None:
    """The scheduled poll run that a flow run submitted for this rule (key: rule + slot), if any."""
    try:
        listed = await api.get("/api/v1/jobs?name=monitoring.poll_rule&limit=200", headers=headers, timeout=5)
    except httpx.HTTPError:
        return None
    if listed.status_code != 200:
        return None
    prefix = f"monitoring.poll_rule:{rule_id}:"
    for run in listed.json().get("items", []):
        if str(run.get("idempotency_key", "")).startswith(prefix):
            return dict(run)
    return None


async def wait_flow_submitted(
    api: httpx.AsyncClient, headers: dict[str, str], rule_id: str, limit_s: float = 90
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await flow_poll_run(api, headers, rule_id) is not None:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the flows process submitted no poll for rule {rule_id} within {limit_s:.0f} s")


async def flow_run_after(prefect_api: str, limit_s: float = 120) -> str:
    """A `monitoring-poll` flow run created now: its final state (Completed when the flows
    process picked it up and ran it)."""
    flow_run_id = await create_flow_run(prefect_api)
    deadline = time.monotonic() + limit_s
    state = "unknown"
    while time.monotonic() < deadline:
        state = await flow_run_state(prefect_api, flow_run_id)
        if state in ("Completed", "Failed", "Crashed", "Cancelled"):
            break
        await asyncio.sleep(1)
    return state


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
        pubs: dict[str, str] = {}
        for pub in sub.publications:
            try:
                response = await api.get(f"/api/v1/publications/{pub['id']}", headers=headers, timeout=5)
                pubs[pub["id"]] = response.json()["status"] if response.status_code == 200 else "unknown"
            except httpx.HTTPError:
                pubs[pub["id"]] = "unknown"
        flow_polls: dict[str, str] = {}
        for fp in sub.flow_polls:
            run = await flow_poll_run(api, headers, fp["rule_id"])
            flow_polls[fp["rule_id"]] = run["status"] if run else "not submitted"
        done = ("succeeded", "failed", "cancelled")
        open_runs = [r for r, s in statuses.items() if s not in done]
        open_projects = [p for p, s in projects.items() if s not in ("clips_ready", "failed")]
        open_pubs = [p for p, s in pubs.items() if s not in ("published", "failed", "cancelled")]
        open_flow = [r for r, s in flow_polls.items() if s not in done]
        if (not open_runs and not open_projects and not open_pubs and not open_flow) or time.monotonic() > deadline:
            return {"runs": statuses, "projects": projects, "publications": pubs, "flow_polls": flow_polls,
                    "done_at": time.monotonic()}  # fmt: skip
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

    run_ids = list(sub.runs) + [p["job_id"] for p in sub.publications if p.get("job_id")]
    for project_id, _ in sub.projects:
        run_ids += await _pipeline_runs(api, headers, project_id)
    for fp in sub.flow_polls:
        run = await flow_poll_run(api, headers, fp["rule_id"])
        if run is not None:
            run_ids.append(run["id"])
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


async def posts_at_sandbox(sandbox_url: str, platform: str, external_id: str) -> int:
    """What the account's profile shows on the platform (counted at the sandbox, not by us)."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        if platform == "tiktok":
            return len((await sandbox.get("/sandbox/tiktok/posts", params={"open_id": external_id})).json())
        return len((await sandbox.get("/sandbox/youtube/videos", params={"channel_id": external_id})).json())


async def judge(api: httpx.AsyncClient, headers: dict[str, str], sub: Submitted, result: dict[str, Any],
                topo: Topology) -> dict[str, Any]:  # fmt: skip
    lost = sum(1 for s in result["runs"].values() if s in ("failed", "cancelled"))
    lost += sum(1 for s in result["projects"].values() if s == "failed")
    lost += sum(1 for s in result["publications"].values() if s in ("failed", "cancelled"))
    stuck = sum(1 for s in result["runs"].values() if s not in ("succeeded", "failed", "cancelled"))
    stuck += sum(1 for s in result["projects"].values() if s not in ("clips_ready", "failed"))
    stuck += sum(1 for s in result["publications"].values() if s not in ("published", "failed", "cancelled"))
    flow: dict[str, Any] = {"polled": 0, "failed_rescheduled": 0, "flow_runs": {}}
    for fp in sub.flow_polls:
        status = result["flow_polls"].get(fp["rule_id"])
        rule = (await api.get(f"/api/v1/monitoring/rules/{fp['rule_id']}", headers=headers)).json()
        flow["flow_runs"][fp["flow_run_id"]] = await flow_run_state(topo.prefect_api, fp["flow_run_id"])
        if status == "succeeded" and rule.get("last_polled_at"):
            flow["polled"] += 1
        elif status in ("failed", "cancelled") and rule.get("last_error") and rule.get("next_poll_at"):
            # a scheduled poll does not retry within its slot: the failure is on the rule and the
            # next slot polls it (the design); counted apart, not as lost
            flow["failed_rescheduled"] += 1
        elif status in ("failed", "cancelled"):
            lost += 1
        else:
            stuck += 1
    posts: dict[str, int] = {}
    for pub in sub.publications:
        posts[pub["id"]] = await posts_at_sandbox(topo.sandbox_url, pub["platform"], pub["external_id"])
    duplicated = sum(1 for n in posts.values() if n > 1)
    # published in our database but absent from the platform: lost
    lost += sum(1 for pid, n in posts.items() if n == 0 and result["publications"].get(pid) == "published")
    for run_id in sub.runs:
        if sum(1 for e in await _events(api, headers, run_id) if e["type"] == "succeeded") > 1:
            duplicated += 1
    for project_id, asked in sub.projects:
        clips = (await api.get(f"/api/v1/projects/{project_id}/clips", headers=headers)).json()
        if len(clips) > asked:
            duplicated += 1
    total = len(sub.runs) + len(sub.projects) + len(sub.publications) + len(sub.flow_polls)
    return {
        "runs": total,
        "lost": lost,
        "stuck": stuck,
        "duplicated": duplicated,
        "publishes": len(sub.publications),
        "posts_at_sandbox": sum(posts.values()),
        "flow_polls": flow,
    }


# --- scenarios ------------------------------------------------------------------------------


async def _wait_running(api: httpx.AsyncClient, headers: dict[str, str], limit_s: float = 60) -> None:
    """Until some run is executing (so that the fault hits work in flight)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        listed = (await api.get("/api/v1/jobs?status=running", headers=headers)).json()
        if listed.get("items"):
            return
        await asyncio.sleep(0.2)


async def run_scenario(name: str, api: httpx.AsyncClient, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    topo, headers, rule_id = load.topo, load.headers, load.rule_id
    imports = args.imports if name in ("kill_workers", "deploy_sigterm") else 0
    sub = await submit(api, headers, rule_id, args.runs, imports, topo.platforms_url)
    if args.flow_polls:
        sub.flow_polls.append(await submit_flow_poll(api, load, name))
        # the flows process has done its part (picked the flow run up, submitted the poll run)
        # before the fault: the fault then meets that run in flight or waiting
        await wait_flow_submitted(api, headers, sub.flow_polls[-1]["rule_id"])
    if args.publishes and load.clip_id:
        sub.publications += await submit_publishes(api, load, args.publishes)
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
        assert topo.link is not None
        topo.link.cut()
        later = await submit(api, headers, rule_id, 0, 0, "")  # a poll while the platforms are down
        sub.runs += later.runs
        sub.polls += later.polls
        await asyncio.sleep(args.sandbox_outage_s)
        topo.link.restore()
    elif name == "deploy_sigterm":
        if imports:
            await asyncio.sleep(3)
        extra["stop_s"] = topo.sigterm_all(list(PROCFILE))
        for proc in PROCFILE:
            topo.start(proc)
        topo.wait_http(f"{topo.api}/readyz")
    cleared_at, cleared_wall = time.monotonic(), time.time()
    result = await wait_until_done(api, headers, sub, limit_s=args.timeout)
    counts = await judge(api, headers, sub, result, topo)
    recovery = await resumed_after(api, headers, sub, fault_wall, cleared_wall)
    if args.flow_polls:  # the flows process still takes work: a new flow run completes
        extra["flow_run_after"] = await flow_run_after(topo.prefect_api)
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


async def prepare(api: httpx.AsyncClient, load: Load, args: argparse.Namespace) -> None:
    """Sandbox users to connect, fast platform processing, and one imported clip to publish."""
    async with httpx.AsyncClient(base_url=load.topo.sandbox_url, timeout=30) as sandbox:
        await sandbox.post("/sandbox/config", json={"tiktok_processing_s": 2, "youtube_processing_s": 3})
        creators = (await sandbox.get("/sandbox/world/creators", params={"limit": 200})).json()
    load.users = iter([c["handle"] for c in creators])
    if not args.publishes:
        return
    spec = {"url": f"{load.topo.platforms_url}/sandbox/media/sample-talk.mp4",
            "options": {"min_len_s": 5, "max_len_s": 12, "top_n": 1}}  # fmt: skip
    created = await api.post("/api/v1/projects", json=spec, headers=load.headers)
    created.raise_for_status()
    project_id = created.json()["id"]
    deadline = time.monotonic() + args.timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = (await api.get(f"/api/v1/projects/{project_id}", headers=load.headers)).json()
        if body["status"] in ("clips_ready", "failed"):
            break
        await asyncio.sleep(1)
    clips = (await api.get(f"/api/v1/projects/{project_id}/clips", headers=load.headers)).json()
    if not clips:
        raise RuntimeError(f"the clip to publish was not made: project {project_id} is {body.get('status')} "
                           f"({body.get('failure_reason')})")  # fmt: skip
    load.clip_id = clips[0]["id"]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from reelflow.sandbox.mail import sign_up

    root = Path(tempfile.mkdtemp(prefix="rf-chaos-"))
    topo = Topology(root)
    chosen = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
    results: list[dict[str, Any]] = []
    try:
        topo.start_engines()
        topo.start_all()
        async with httpx.AsyncClient(base_url=topo.api, timeout=30) as api:
            signed = await sign_up(api, topo.mail_sink, email="chaos@example.com", workspace_name="Chaos")
            headers = {"Authorization": f"Bearer {signed['token']['token']}"}
            spec = {"name": "chaos", "kind": "hashtag", "values": ["fitness"]}
            rule = await api.post("/api/v1/monitoring/rules", json=spec, headers=headers)
            load = Load(topo, headers, rule.json()["id"])
            await prepare(api, load, args)
            for name in chosen:
                print(f"scenario {name} …", flush=True)
                outcome = await run_scenario(name, api, load, args)
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
            k: getattr(args, k)
            for k in ("runs", "imports", "publishes", "flow_polls", "redis_outage_s", "pg_outage_s", "sandbox_outage_s")
        },
        "publishes": sum(r["publishes"] for r in results),
        "posts_at_sandbox": sum(r["posts_at_sandbox"] for r in results),
        "topology": ["postgres", "redis", "seaweedfs", "prefect-server", "sandbox behind a link", *PROCFILE],
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'scenario':<16}{'runs':>6}{'lost':>6}{'dup':>5}{'stuck':>7}{'fault s':>9}{'recovery s':>12}"
          f"{'all done s':>12}  notes")  # fmt: skip
    for r in report["scenarios"]:
        notes = []
        if "stop_s" in r:
            notes.append("exit after SIGTERM: " + ", ".join(f"{k} {v}s" for k, v in r["stop_s"].items()))
        if "flow_run_after" in r:
            notes.append(f"flow run after: {r['flow_run_after']}")
        if "breaker_closed" in r:
            notes.append(f"breaker closed: {r['breaker_closed']}")
        if r.get("publishes"):
            notes.append(f"{r['publishes']} publishes, {r['posts_at_sandbox']} posts at the sandbox")
        flow = r.get("flow_polls") or {}
        if flow.get("flow_runs"):
            states = ", ".join(sorted(set(flow["flow_runs"].values())))
            notes.append(f"flow poll: {flow['polled']} polled, {flow['failed_rescheduled']} rescheduled ({states})")
        print(f"{r['scenario']:<16}{r['runs']:>6}{r['lost']:>6}{r['duplicated']:>5}{r['stuck']:>7}"
              f"{r['fault_s']:>9}{r['recovery_s']:>12}{r['all_done_s']:>12}  {'; '.join(notes)}")  # fmt: skip
    print(f"total: runs {report['runs']}, lost {report['lost']}, duplicated {report['duplicated']}, "
          f"stuck {report['stuck']}, max recovery {report['max_recovery_s']} s; "
          f"{report['publishes']} publishes, {report['posts_at_sandbox']} posts at the sandbox")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=6, help="diagnostic runs per scenario (plus one poll)")
    parser.add_argument("--imports", type=int, default=1, help="URL imports in the kill and deploy scenarios")
    parser.add_argument("--publishes", type=int, default=2,
                        help="publishes per scenario (TikTok and YouTube in turn, each to a new account)")  # fmt: skip
    parser.add_argument("--flow-polls", type=int, default=1, choices=(0, 1),
                        help="a monitoring poll through the flows process per scenario")  # fmt: skip
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
