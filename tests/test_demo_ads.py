"""The ads demo step against the real API, the sandbox and a real worker process (the
clipping step is not run, so the step uploads sandbox videos instead of clips)."""

from __future__ import annotations

from typing import Any


async def test_ads_demo_step(client: Any, signup: Any, sandbox: Any, worker_processes: Any, capsys: Any) -> None:
    from reelflow.demo import Demo
    from reelflow.demo import ads as step

    owner = await signup()
    client.headers.update(owner.headers)
    worker_processes.start("high,default")
    demo = Demo(api_url="http://testserver", sandbox_url=sandbox.url, client=client, supervisor=None)  # type: ignore[arg-type]
    await step.run(demo)
    out = capsys.readouterr().out
    assert "launch succeeded" in out and "pause ad" in out and "after DISABLE" in out
    assert "report Demo leads" in out and "metrics collected" in out
    with capsys.disabled():
        print(out)
