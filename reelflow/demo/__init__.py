"""`make demo`: start the stack on the embedded defaults and run the main job end to end.

Each area adds a step module here (`reelflow/demo/<area>.py` with `async def run(demo)`)
and lists it in DEMO_STEPS; steps run in order against the real HTTP API.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import httpx

from reelflow.logs import configure_logging
from reelflow.processes import Supervisor
from reelflow.settings import env_for_children, get_settings
from reelflow.storage.embedded import free_port

DEMO_STEPS: list[str] = [
    "reelflow.demo.identity",
    "reelflow.demo.sandbox",
    "reelflow.demo.jobs",
    "reelflow.demo.monitoring",
    "reelflow.demo.clipping",
    "reelflow.demo.ads",
    "reelflow.demo.autopilot",
    "reelflow.demo.leads",
    "reelflow.demo.discovery",
    "reelflow.demo.publishing",
    "reelflow.demo.clippers",
    # <area demo steps>
]


@dataclass
class Demo:
    """What the steps share: the API client (signed in after the identity step) and state."""

    api_url: str
    sandbox_url: str
    client: httpx.AsyncClient
    supervisor: Supervisor
    state: dict[str, Any] = field(default_factory=dict)

    def section(self, title: str) -> None:
        print(f"\n== {title} " + "=" * max(0, 70 - len(title)))

    def say(self, text: str = "") -> None:
        print(f"   {text}")

    def use_token(self, token: str) -> None:
        self.client.headers["Authorization"] = f"Bearer {token}"

    async def job_result(self, response: httpx.Response, limit_s: float = 120.0) -> dict[str, Any]:
        """The result of the run a `202 {run}` (or `200` replay) answer started, once it
        succeeded; RuntimeError if it was not started, failed, or is still going after `limit_s`."""
        if response.status_code not in (200, 202):
            raise RuntimeError(f"job not started: {response.status_code} {response.text}")
        run = response.json()
        deadline = time.monotonic() + limit_s
        while run["status"] not in ("succeeded", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {run['name']} still {run['status']} after {limit_s:.0f} s")
            await asyncio.sleep(0.3)
            run = (await self.client.get(f"/api/v1/jobs/{run['id']}")).raise_for_status().json()
        if run["status"] != "succeeded":
            raise RuntimeError(f"job {run['name']} {run['status']}: {run['error']}")
        return dict(run["result"] or {})


def run_demo() -> int:
    from reelflow.storage.migrate import upgrade

    settings = get_settings()
    # The steps narrate what happens; the adapters' request logs would drown the summary.
    configure_logging("ERROR")
    started = time.monotonic()
    print("Reelflow demo: embedded Postgres, Redis and S3, the platform sandbox, the API and workers.")
    print(f"   data folder: {settings.resolved_data_dir}")
    upgrade()
    env = env_for_children(settings)
    port = free_port()
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env["REELFLOW_SANDBOX__URL"] = sandbox_url
    # Invitation and reset mails really go out over SMTP, to a local sink the steps read.
    from reelflow.sandbox.mail import MailSink

    mail_sink = MailSink(port=free_port()).start()
    env["REELFLOW_MAIL__HOST"] = mail_sink.host
    env["REELFLOW_MAIL__PORT"] = str(mail_sink.port)
    supervisor = Supervisor(env)
    try:
        supervisor.start_reelflow("sandbox", "sandbox", "--port", str(sandbox_port), quiet=True)
        supervisor.start_reelflow("web", "web", "--port", str(port), quiet=True)
        supervisor.start_reelflow("worker", "worker", "--queues", "high,default", quiet=True)
        supervisor.start_reelflow("media", "worker", "--queues", "media", quiet=True)
        supervisor.wait_http("web", f"http://127.0.0.1:{port}/readyz")
        supervisor.wait_http("sandbox", f"{sandbox_url}/sandbox/health")
        print(f"   API on http://127.0.0.1:{port}, sandbox on {sandbox_url}, workers for high, default and media")
        code = asyncio.run(_run_steps(f"http://127.0.0.1:{port}", sandbox_url, supervisor, mail_sink))
    finally:
        supervisor.stop_all()
        mail_sink.stop()
    print(f"\nDemo {'finished' if code == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s.")
    return code


async def _run_steps(api_url: str, sandbox_url: str, supervisor: Supervisor, mail_sink: Any) -> int:
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
        demo = Demo(api_url=api_url, sandbox_url=sandbox_url, client=client, supervisor=supervisor)
        demo.state["mail_sink"] = mail_sink
        for module_name in DEMO_STEPS:
            module = importlib.import_module(module_name)
            step_started = time.monotonic()
            try:
                await module.run(demo)
            except Exception:  # noqa: BLE001 - report which step failed, then stop
                traceback.print_exc()
                print(f"   step {module_name} failed")
                return 1
            demo.say(f"({time.monotonic() - step_started:.1f} s)")
    return 0
