"""`reelflow ...`: dev, demo, web, worker, flows, readyz, db, admin, sandbox, bench."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import click

from reelflow.errors import ConfigurationError


def _settings_or_exit() -> Any:
    from reelflow.settings import get_settings

    try:
        return get_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _with_services() -> Any:
    """Settings with embedded Postgres/Redis started for whatever URL is not set."""
    from reelflow.storage.embedded import ensure_services

    settings = _settings_or_exit()
    ensure_services(settings)
    return _settings_or_exit()


@click.group()
def main() -> None:
    """Reelflow: the backend of a short-video business on TikTok and YouTube Shorts."""


# --- database ---------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from reelflow.storage.migrate import upgrade

    _with_services()
    upgrade(revision)
    click.echo(f"database upgraded to {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    from reelflow.storage.migrate import downgrade

    _with_services()
    downgrade(revision)
    click.echo(f"database downgraded to {revision}")


# --- health -----------------------------------------------------------------------------
@main.command()
def readyz() -> None:
    """Check settings, Postgres and Redis; print JSON; exit 0 when ready, 1 when not."""
    from reelflow.health import readiness

    report = asyncio.run(readiness())
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


# --- keys -------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Encryption keys for platform tokens at rest."""


@keys.command("rotate")
@click.option("--batch", default=500, show_default=True, help="Rows re-encrypted per transaction.")
def keys_rotate(batch: int) -> None:
    """Re-encrypt every sealed column with the first key of REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS."""
    from reelflow.storage.db import dispose_engine, session_scope
    from reelflow.storage.repositories.ads import AdsRepository
    from reelflow.storage.tokenstore import rotate_all

    _with_services()

    async def run() -> dict[str, int]:
        try:
            async with session_scope() as session:
                counts = await rotate_all(session, batch=batch)
                # Ad connections have no key column: every stored token is re-encrypted.
                counts["ad_connections"] = await AdsRepository(session).rotate_tokens()
                return counts
        finally:
            await dispose_engine()

    for table, count in asyncio.run(run()).items():
        click.echo(f"{table}: {count} rows re-encrypted")


# --- admin ------------------------------------------------------------------------------
@main.group()
def admin() -> None:
    """Administration for scripts."""


@admin.command("create-workspace")
@click.argument("name")
@click.option("--email", required=True, help="The owner's email (created if new).")
@click.option("--plan", type=click.Choice(["free", "starter", "pro"]), default="free", show_default=True)
def admin_create_workspace(name: str, email: str, plan: str) -> None:
    """Create workspace NAME owned by EMAIL and print an API token for it."""
    from reelflow.domain.identity import normalise_email
    from reelflow.storage.db import dispose_engine, session_scope
    from reelflow.storage.repositories.identity import IdentityRepository
    from reelflow.web.routes.identity import issue_token

    _with_services()

    async def run() -> str:
        try:
            async with session_scope() as session:
                repo = IdentityRepository(session)
                address = normalise_email(email)
                user = await repo.get_user_by_email(address) or await repo.create_user(address, None)
                workspace = await repo.create_workspace(name, plan)
                await repo.add_membership(workspace.id, user.id, "owner")
                token = await issue_token(
                    repo, workspace_id=workspace.id, user_id=user.id, name="admin script", expires_in_days=None
                )
                return f"workspace {workspace.id}\ntoken {token.token}"
        finally:
            await dispose_engine()

    try:
        click.echo(asyncio.run(run()))
    except Exception as exc:  # noqa: BLE001 - shown to the operator as a CLI error
        raise click.ClickException(str(exc)) from None


@main.group()
def users() -> None:
    """Accounts, for operators."""


@users.command("reset-password")
@click.argument("email")
@click.option("--no-mail", is_flag=True, help="Only print the link; do not mail it.")
def users_reset_password(email: str, no_mail: bool) -> None:
    """Make a single-use password-reset link for EMAIL (a locked-out owner), mail it to them
    and print it (hand it over another way if their mailbox is the problem)."""
    from reelflow.adapters.mail import OutgoingMail, SmtpMailer
    from reelflow.services.identity import create_reset_link, link_url
    from reelflow.storage.db import dispose_engine, session_scope

    settings = _with_services()

    async def run() -> str:
        try:
            async with session_scope() as session:
                user, secret = await create_reset_link(session, email, actor_kind="operator")
                url = link_url(
                    settings.web.public_base_url or f"http://{settings.web.host}:{settings.web.port}", secret
                )
                if not no_mail:
                    await SmtpMailer(settings.mail).send(
                        OutgoingMail(
                            to=user.email,
                            subject="Reset your Reelflow password",
                            text=(
                                "An operator started a password reset for your Reelflow account.\n\n"
                                f"Open this link to choose a new password (it works once):\n{url}\n\n"
                                f'API clients: POST /api/v1/auth/redeem with {{"token": "{secret}", '
                                '"password": "<new password>"}.\n'
                            ),
                        )
                    )
                minutes = settings.identity.reset_ttl_minutes
                return f"reset link for {user.email} (single use, expires in {minutes} min):\n{url}"
        finally:
            await dispose_engine()

    try:
        click.echo(asyncio.run(run()))
    except Exception as exc:  # noqa: BLE001 - shown to the operator as a CLI error
        raise click.ClickException(str(exc)) from None


# --- processes --------------------------------------------------------------------------
@main.command()
@click.option("--host", default=None, help="Bind address (default: settings host).")
@click.option("--port", type=int, default=None, help="Port (default: $PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    settings = _with_services()
    uvicorn.run(
        "reelflow.web.app:create_app",
        factory=True,
        host=host or settings.web.host,
        port=port or settings.web.port,
        proxy_headers=True,
        log_level="warning",
    )


@main.command()
@click.option("--queues", default="high,default", show_default=True, help="Comma-separated queues, in priority order.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker(queues: str, burst: bool) -> None:
    """Run a worker for the job runtime."""
    from reelflow.adapters.media import children
    from reelflow.queue.worker import run_worker

    _with_services()
    children.reap_orphans()  # ffmpeg left behind by a worker that died here before
    try:
        run_worker([q.strip() for q in queues.split(",") if q.strip()], burst=burst)
    finally:
        children.kill_all()


@main.group()
def flows() -> None:
    """Prefect schedules (deployments from prefect.yaml)."""


@flows.command("serve")
def flows_serve() -> None:
    """Serve every deployment in prefect.yaml (needs PREFECT_API_URL; says so and exits without it)."""
    from reelflow.flows.serve import api_url, serve_all

    if not api_url():
        serve_all()  # says what to do and exits, before starting anything
    _with_services()
    serve_all()


@main.command()
@click.option("--port", type=int, default=None, help="Port (default: REELFLOW_SANDBOX__PORT).")
@click.option(
    "--latency/--no-latency",
    default=None,
    help="Latency and rate-limit model (default: REELFLOW_SANDBOX__LATENCY__ENABLED, off).",
)
@click.option("--latency-seed", type=int, default=None, help="Seed of the latency model's random draws.")
@click.option("--latency-scale", type=click.FloatRange(min=0), default=None, help="Multiply every modelled delay.")
def sandbox(port: int | None, latency: bool | None, latency_seed: int | None, latency_scale: float | None) -> None:
    """Run the platform sandbox alone."""
    from reelflow.sandbox.app import run_sandbox

    settings = _settings_or_exit()
    run_sandbox(
        port or settings.sandbox.port,
        latency_enabled=latency,
        latency_seed=latency_seed,
        latency_scale=latency_scale,
    )


@main.command()
@click.option("--prefect/--no-prefect", default=True, help="Start a Prefect server and serve the flows.")
def dev(prefect: bool) -> None:
    """Everything locally: embedded services, sandbox, API, a worker per queue, Prefect."""
    from reelflow.processes import Supervisor
    from reelflow.settings import env_for_children
    from reelflow.storage.migrate import upgrade

    settings = _with_services()
    upgrade()
    env = env_for_children(settings)
    sandbox_url = settings.sandbox.url or f"http://127.0.0.1:{settings.sandbox.port}"
    env.setdefault("REELFLOW_SANDBOX__URL", sandbox_url)
    prefect_home = settings.resolved_data_dir / "prefect"
    env.setdefault("PREFECT_HOME", str(prefect_home))
    from reelflow.sandbox.mail import MailSink

    # Outbound mail (invitations, resets) goes to a local SMTP sink that prints what arrives.
    mail_sink = MailSink(host=settings.mail.host, port=settings.mail.port, echo=True).start()
    supervisor = Supervisor(env)

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background of a script inherits it ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        supervisor.start_reelflow("sandbox", "sandbox", "--port", str(settings.sandbox.port))
        supervisor.start_reelflow("web", "web", "--port", str(settings.web.port))
        supervisor.start_reelflow("worker", "worker", "--queues", "high,default")
        supervisor.start_reelflow("media", "worker", "--queues", "media")
        prefect_port = settings.ops.prefect_port
        if prefect:
            api_url = env.get("PREFECT_API_URL") or f"http://127.0.0.1:{prefect_port}/api"
            if "PREFECT_API_URL" not in env:
                supervisor.start(
                    "prefect-server",
                    [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                     "--port", str(prefect_port)],
                    quiet=True,
                )  # fmt: skip
                supervisor.wait_http("prefect-server", api_url + "/health", timeout=120)
            supervisor.start_reelflow("flows", "flows", "serve", env={"PREFECT_API_URL": api_url})
        supervisor.wait_http("web", f"http://127.0.0.1:{settings.web.port}/readyz")
        click.echo(f"API:        http://127.0.0.1:{settings.web.port}/api/v1  (docs: /schema)")
        click.echo(f"Sandbox:    {sandbox_url}")
        if prefect:
            click.echo(f"Prefect UI: {api_url.removesuffix('/api')}")
        click.echo("Ctrl-C stops everything.")
        while True:
            exited = supervisor.first_exited()
            if exited:
                click.echo(f"{exited[0]} exited with code {exited[1]}; stopping", err=True)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        supervisor.stop_all()
        mail_sink.stop()


@main.command()
def demo() -> None:
    """Start the stack on the embedded defaults and run the main job end to end."""
    from reelflow.demo import run_demo

    _with_services()
    sys.exit(run_demo())


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
def bench(name: str, args: tuple[str, ...]) -> None:
    """Run bench/NAME.py with ARGS."""
    import runpy

    path = os.path.join(os.getcwd(), "bench", f"{name}.py")
    if not os.path.exists(path):
        raise click.ClickException(f"no benchmark {path}")
    sys.argv = [path, *args]
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
