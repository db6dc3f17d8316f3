"""The leads demo step against the real API, the sandbox and a real worker process (an ad
account and a direction made through the API stand in for the ads step)."""

from __future__ import annotations

from typing import Any

from tests.web.test_ads import direction
from tests.web.test_leads import PII, connect


async def test_leads_demo_step(client: Any, signup: Any, sandbox: Any, worker_processes: Any, capsys: Any) -> None:
    from reelflow.demo import Demo
    from reelflow.demo import leads as step

    owner = await signup()
    account = await connect(client, owner, sandbox)
    await direction(client, owner, account["id"])
    client.headers.update(owner.headers)
    worker_processes.start("high,default")
    demo = Demo(api_url="http://testserver", sandbox_url=sandbox.url, client=client, supervisor=None)  # type: ignore[arg-type]
    await step.run(demo)
    out = capsys.readouterr().out
    assert "duplicate=False" in out and "duplicate=True" in out and "bad signature → 401" in out
    assert "mapped by advertiser" in out and "A***" in out and "status=won → 422" in out
    assert "event CompleteRegistration (web, pixel CSBX0PIXEL0000000001): sent" in out
    assert "events logged for this lead: 1" in out
    assert "Aigerim" not in out and "aigerim@example.com" not in out and not any(p in out for p in PII)
    with capsys.disabled():
        print(out)
