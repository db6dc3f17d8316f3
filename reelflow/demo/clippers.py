"""Demo step: a clipper programme end to end over the API.

An admin creates a programme; two clippers (invited as members with role `clipper`, the
mailed links redeemed) submit four
clips, one through a TikTok short link; the admin approves three and rejects one; two
tracking rounds run as jobs with the sandbox clock moved forward in between; then views,
earnings, budget left, a payout request, its approval and payment.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from reelflow.demo import Demo

C = "/api/v1/clippers"


async def _clipper_token(demo: Demo, email: str) -> str:
    """Invite a clipper, read the mailed link from the SMTP sink and redeem it (a token back)."""
    from reelflow.demo.identity import _wait_for_mail

    invited = await demo.client.post("/api/v1/members", json={"email": email, "role": "clipper"})
    invited.raise_for_status()
    mail = await _wait_for_mail(demo.state["mail_sink"], email)
    secret = mail.links[0].split("token=", 1)[1]
    async with httpx.AsyncClient(base_url=demo.api_url, timeout=60) as anonymous:
        redeemed = await anonymous.post(
            "/api/v1/auth/redeem", json={"token": secret, "password": f"clipper-password-{uuid.uuid4().hex}"}
        )
        redeemed.raise_for_status()
    return str(redeemed.json()["token"]["token"])


def _young_videos(now: float, count: int) -> list[tuple[int, str]]:
    from reelflow.sandbox.world import get_world

    world = get_world()
    out: list[tuple[int, str]] = []
    for creator in world.creators[5:]:
        for vid in world.videos_of(creator, now):
            age_h = (now - (vid >> 32)) / 3600
            stats = world.stats(vid, now)
            if 1.0 <= age_h <= 4.0 and stats is not None and stats.views >= 2_000:
                out.append((vid, f"https://www.tiktok.com/@{creator.handle}/video/{vid}"))
                break
        if len(out) == count:
            return out
    raise RuntimeError("the sandbox has too few young videos")


def _money(minor: int, currency: str = "USD") -> str:
    return f"{minor / 100:,.2f} {currency}"  # display only; all arithmetic is in minor units


async def run(demo: Demo) -> None:
    from reelflow.sandbox.world import short_code

    demo.section("Clipper programmes: submissions, tracking, earnings, payouts")
    campaign = (
        (
            await demo.client.post(
                f"{C}/campaigns",
                json={
                    "name": "Launch week clips",
                    "brief": "Clip the launch stream; tag the brand",
                    "platforms": ["tiktok"],
                    "currency": "USD",
                    "budget_minor": 30_000,
                    "rate_per_1000_minor": 150,
                    "min_views": 1_000,
                    "max_per_submission_minor": 15_000,
                    "status": "active",
                },
            )
        )
        .raise_for_status()
        .json()
    )
    demo.say(
        f"programme {campaign['name']!r}: budget {_money(campaign['budget_minor'])}, "
        f"{_money(campaign['rate_per_1000_minor'])} per 1,000 views, at most {_money(15_000)} per clip"
    )
    stamp = int(time.time())
    tokens = {name: await _clipper_token(demo, f"{name}+{stamp}@reelflow.dev") for name in ("ava", "ben")}
    clock = (await demo.client.get(f"{demo.sandbox_url}/sandbox/clock")).json()
    videos = _young_videos(float(clock["now"]), 4)
    plan = [
        ("ava", videos[0][1]),
        ("ava", f"https://vm.tiktok.com/{short_code(videos[1][0])}/"),
        ("ben", videos[2][1]),
        ("ben", videos[3][1]),
    ]
    subs = []
    for who, url in plan:
        response = await demo.client.post(
            f"{C}/submissions",
            json={"campaign_id": campaign["id"], "url": url},
            headers={"Authorization": f"Bearer {tokens[who]}"},
        )
        response.raise_for_status()
        subs.append(response.json())
        demo.say(f"{who} submitted {url[:60]} → {response.json()['url'][:60]}")
    dup = await demo.client.post(
        f"{C}/submissions",
        json={"campaign_id": campaign["id"], "url": videos[0][1]},
        headers={"Authorization": f"Bearer {tokens['ben']}"},
    )
    demo.say(f"ben submits ava's clip again → {dup.status_code} (first: {dup.json().get('first_submission_id')})")
    for sub in subs[:3]:
        approved = (await demo.client.post(f"{C}/submissions/{sub['id']}/approve")).raise_for_status().json()
        demo.say(f"approved {sub['id'][:8]}… baseline {approved['baseline_views']:,} views")
    rejected = await demo.client.post(f"{C}/submissions/{subs[3]['id']}/reject", json={"reason": "off brief"})
    demo.say(f"rejected {subs[3]['id'][:8]}… → {rejected.json()['status']} ({rejected.json()['reason']})")

    for round_no in (1, 2):
        await demo.client.post(f"{demo.sandbox_url}/sandbox/clock", json={"advance": 6 * 3600})
        result = await demo.job_result(await demo.client.post(f"{C}/tracking/run"), limit_s=180.0)
        camp = (await demo.client.get(f"{C}/campaigns/{campaign['id']}")).json()
        demo.say(
            f"tracking round {round_no} (+6 h on the sandbox clock): {result['readings']} readings from "
            f"{result['runs_started']} Apify run(s), credited {_money(result['credited_minor'])}; "
            f"spent {_money(camp['spent_minor'])}, left {_money(camp['remaining_minor'])} ({camp['status']})"
        )
    analytics = (await demo.client.get(f"{C}/campaigns/{campaign['id']}/analytics")).json()
    demo.say(
        f"views above baselines {analytics['views']:,}; cost per 1,000 views "
        f"{_money(analytics['cost_per_1000_views_minor'] or 0)}"
    )
    for who, token in tokens.items():
        bal = (await demo.client.get(f"{C}/balance", headers={"Authorization": f"Bearer {token}"})).json()
        demo.say(
            f"{who}: {bal['views']:,} views, earned {_money(bal['earned_minor'])}, "
            f"available {_money(bal['available_minor'])}"
        )
    ava = {"Authorization": f"Bearer {tokens['ava']}"}
    available = (await demo.client.get(f"{C}/balance", headers=ava)).json()["available_minor"]
    if available >= 1_000:
        payout = (
            (await demo.client.post(f"{C}/payouts", json={"amount_minor": available}, headers=ava))
            .raise_for_status()
            .json()
        )
        await demo.client.post(f"{C}/payouts/{payout['id']}/approve")
        paid = (
            await demo.client.post(f"{C}/payouts/{payout['id']}/paid", json={"external_reference": f"demo-{stamp}"})
        ).json()
        after = (await demo.client.get(f"{C}/balance", headers=ava)).json()
        demo.say(
            f"ava's payout of {_money(paid['amount_minor'])} → {paid['status']} ({paid['external_reference']}); "
            f"balance: earned {_money(after['earned_minor'])} = paid {_money(after['paid_minor'])} "
            f"+ pending {_money(after['pending_minor'])} + available {_money(after['available_minor'])}"
        )
    else:
        demo.say(f"ava has {_money(available)} available, under the payout minimum")
