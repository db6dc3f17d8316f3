"""The autopilot demo step after the ads step, against the real API, the sandbox and a real
worker process: a report-only round, then an acting one, decisions printed with reasons."""

from __future__ import annotations

from typing import Any


async def test_autopilot_demo_step(client: Any, signup: Any, sandbox: Any, worker_processes: Any, capsys: Any) -> None:
    from reelflow.demo import Demo
    from reelflow.demo import ads as ads_step
    from reelflow.demo import autopilot as step

    owner = await signup()
    client.headers.update(owner.headers)
    worker_processes.start("high,default")
    demo = Demo(api_url="http://testserver", sandbox_url=sandbox.url, client=client, supervisor=None)  # type: ignore[arg-type]
    await ads_step.run(demo)
    capsys.readouterr()
    await step.run(demo)
    out = capsys.readouterr().out
    assert "(report, proposer deterministic" in out and "(act, proposer deterministic" in out
    assert "decision:" in out
    assert "report (report): Telegram sent" in out and "report (act): Telegram sent" in out
    with capsys.disabled():
        print(out)
