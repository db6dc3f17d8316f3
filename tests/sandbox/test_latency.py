"""The sandbox's latency and rate-limit model: distributions, matching, the control API, 429s."""

from __future__ import annotations

import random
import statistics
import time

import httpx
import pytest

from reelflow.sandbox import latency
from reelflow.sandbox.latency import Dist, Endpoint, LatencyModel, Limit


def test_lognormal_draws_match_median_and_p99_and_repeat_for_a_seed() -> None:
    dist = Dist(200, 1000)
    rng = random.Random("7:row")
    draws = [dist.sample_ms(rng) for _ in range(20_000)]
    ordered = sorted(draws)
    assert statistics.median(ordered) == pytest.approx(200, rel=0.05)
    assert ordered[int(0.99 * len(ordered))] == pytest.approx(1000, rel=0.15)
    again = random.Random("7:row")
    assert [dist.sample_ms(again) for _ in range(5)] == draws[:5]
    assert Dist(100, 100).sample_ms(random.Random(1)) == 100
    assert Dist(100, 100, per_mib_ms=50).sample_ms(random.Random(1), body_bytes=2 * 1_048_576) == 200


def test_the_most_specific_row_wins_and_every_platform_prefix_is_covered() -> None:
    assert latency.match("POST", "/tiktok/v2/research/video/query/").pattern == "/tiktok/v2/research/video/query/*"
    assert latency.match("POST", "/tiktok/v2/research/video/query").pattern == "/tiktok/v2/research/video/query/*"
    assert latency.match("GET", "/tiktok/v2/some/new/endpoint/").pattern == "/tiktok/*"
    assert latency.match("GET", "/tiktok-business/open_api/v1.3/lead/get/").pattern == "/tiktok-business/*"
    assert latency.match("POST", "/apify/v2/acts/x~y/run-sync-get-dataset-items").pattern.startswith("/apify/v2/acts/")
    assert latency.match("GET", "/youtube/upload/youtube/v3/videos").pattern == "/youtube/upload/*"
    assert latency.match("GET", "/elsewhere") is None


def test_an_area_registers_its_own_rows_without_editing_the_table() -> None:
    row = Endpoint("/tiktok-business/open_api/v1.3/lead/*", Dist(42, 84), (Limit(1, 1.0),), source="test")
    latency.register(row)
    try:
        assert latency.match("GET", "/tiktok-business/open_api/v1.3/lead/get/") == row
        replaced = Endpoint(row.pattern, Dist(7, 7))
        latency.register(replaced)  # same pattern and method: replaces the earlier row
        assert latency.match("GET", "/tiktok-business/open_api/v1.3/lead/get/") == replaced
    finally:
        latency._registered.clear()


def test_seeded_delays_repeat_and_limits_count_per_credential() -> None:
    def delays(seed: int) -> list[float]:
        model = LatencyModel()
        model.configure(enabled=True, seed=seed)
        path = "/youtube/youtube/v3/videos"
        return [model.plan("GET", path, {"authorization": f"Bearer {i}"}).delay_s for i in range(5)]

    assert delays(1) == delays(1) and delays(1) != delays(2)
    model = LatencyModel()
    assert model.plan("GET", "/tiktok/v2/user/info/", {}).delay_s == 0  # off: nothing
    model.configure(enabled=True, scale=0)
    alice, bob = {"authorization": "Bearer a"}, {"authorization": "Bearer b"}
    plans = [model.plan("GET", "/tiktok/v2/user/info/", alice) for _ in range(601)]
    assert [p.limited for p in plans[:600]] == [None] * 600
    assert plans[600].limited == Limit(600, 60.0) and 0 < plans[600].retry_after_s <= 60
    assert plans[600].delay_s == 0  # scale 0
    assert model.plan("GET", "/tiktok/v2/user/info/", bob).limited is None
    row = next(r for r in model.describe()["endpoints"] if r["pattern"] == "/tiktok/v2/user/info/*")  # type: ignore[attr-defined]
    assert (row["requests"], row["limited"]) == (602, 1)


def test_business_api_limits_count_per_token_per_endpoint_path() -> None:
    """§5.1: TikTok counts QPS/QPM per app per endpoint. One default row covers every
    `/tiktok-business/*` path, yet each path (trailing slash or not) has its own window."""
    model = LatencyModel()
    model.configure(enabled=True, scale=0)
    api = "/tiktok-business/open_api/v1.3"
    alice, bob = {"access-token": "a"}, {"access-token": "b"}
    adgroups = [model.plan("GET", f"{api}/adgroup/get/", alice) for _ in range(10)]
    assert [p.limited for p in adgroups] == [None] * 10
    assert model.plan("GET", f"{api}/adgroup/get", alice).limited == Limit(10, 1.0)  # same endpoint, no slash
    assert model.plan("GET", f"{api}/ad/get/", alice).limited is None  # another endpoint: its own window
    assert model.plan("POST", f"{api}/adgroup/status/update/", alice).limited is None
    assert model.plan("GET", f"{api}/adgroup/get/", bob).limited is None  # another token: its own window
    row = next(r for r in model.describe()["endpoints"] if r["pattern"] == "/tiktok-business/*")  # type: ignore[attr-defined]
    assert (row["requests"], row["limited"], row["per_path"]) == (14, 1, True)
    # Rows without `per_path` (a key's limit across a whole provider) still share one window.
    shared = [model.plan("GET", f"/apify/v2/{name}", {"authorization": "k"}) for name in ("a", "b", "c", "d", "e", "f")]
    assert [p.limited is not None for p in shared] == [False] * 5 + [True]


def test_defaults_come_back_on_reset_and_bad_config_is_refused() -> None:
    model = LatencyModel()
    model.set_defaults(enabled=True, seed=5, scale=0.5)
    model.configure(enabled=False, seed=9, scale=2)
    model.reset()
    assert (model.enabled, model.seed, model.scale) == (True, 5, 0.5)
    with pytest.raises(ValueError):
        model.configure(scale=-1)
    for bad in ({"enabled": "yes"}, {"seed": 1.5}, {"scale": "x"}, {"nope": 1}):
        with pytest.raises(ValueError):
            latency.configure_from(bad)


async def test_off_by_default_in_tests_and_on_through_the_control_api(sandbox) -> None:
    url = "/scrapecreators/v1/tiktok/profile"
    creator = (await sandbox.world("creators", limit=1))[0]["handle"]
    params, headers = {"handle": creator}, {"x-api-key": "sbx_scrapecreators_key"}
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        assert (await client.get("/sandbox/latency")).json()["enabled"] is False
        started = time.perf_counter()
        assert (await client.get(url, params=params, headers=headers)).status_code == 200
        assert time.perf_counter() - started < 1.0  # no modelled delay (1.5 s median when on)

        bad = await client.post("/sandbox/latency", json={"scale": -1})
        assert bad.status_code == 400
        # scale 0.02: a 1.5 s median becomes ~30 ms; the 10/s limit still applies
        on = (await client.post("/sandbox/latency", json={"enabled": True, "seed": 3, "scale": 0.02})).json()
        assert on["enabled"] is True and on["seed"] == 3
        codes = [(await client.get(url, params=params, headers=headers)) for _ in range(11)]
        assert [r.status_code for r in codes[:10]] == [200] * 10
        assert codes[10].status_code == 429 and int(codes[10].headers["retry-after"]) >= 1
        assert "success" in codes[10].json() or "message" in codes[10].json()  # the platform's own envelope
        recorded = await sandbox.requests("/scrapecreators/*")
        assert [r["fault"] for r in recorded[-2:]] == [None, "rate_limited"]
        assert min(r["duration_ms"] for r in recorded[-11:]) >= 5
        described = (await client.get("/sandbox/latency")).json()
        row = next(r for r in described["endpoints"] if r["pattern"] == "/scrapecreators/*")
        assert row["requests"] == 11 and row["limited"] == 1

        await client.post("/sandbox/reset")
        assert (await client.get("/sandbox/latency")).json()["enabled"] is False


async def test_business_api_429_keeps_its_200_and_code_40100_shape(sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await client.post("/sandbox/latency", json={"enabled": True, "scale": 0})
        headers = {"Access-Token": "whatever"}
        answers = [
            await client.get("/tiktok-business/open_api/v1.3/advertiser/info/", headers=headers) for _ in range(11)
        ]
        await client.post("/sandbox/reset")
    assert answers[10].status_code == 200 and answers[10].json()["code"] == 40100
    assert answers[10].headers["retry-after"]


async def test_business_api_windows_are_per_endpoint_over_http(sandbox) -> None:
    api = "/tiktok-business/open_api/v1.3"
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await client.post("/sandbox/latency", json={"enabled": True, "scale": 0})
        headers = {"Access-Token": "whatever"}
        info = [(await client.get(f"{api}/advertiser/info/", headers=headers)).json()["code"] for _ in range(11)]
        other = (await client.get(f"{api}/adgroup/get/", headers=headers)).json()["code"]
        await client.post("/sandbox/reset")
    assert info[10] == 40100 and 40100 not in info[:10]
    assert other != 40100  # the ad group endpoint's window is its own


def test_the_setting_turns_it_on_for_a_new_sandbox_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelflow.sandbox.app import create_sandbox_app
    from reelflow.settings import reset_settings_cache

    monkeypatch.setenv("REELFLOW_SANDBOX__LATENCY__ENABLED", "true")
    monkeypatch.setenv("REELFLOW_SANDBOX__LATENCY__SEED", "11")
    reset_settings_cache()
    try:
        create_sandbox_app()
        assert (latency.MODEL.enabled, latency.MODEL.seed) == (True, 11)
        create_sandbox_app(latency_enabled=False)
        assert latency.MODEL.enabled is False
    finally:
        monkeypatch.delenv("REELFLOW_SANDBOX__LATENCY__ENABLED")
        monkeypatch.delenv("REELFLOW_SANDBOX__LATENCY__SEED")
        reset_settings_cache()
        create_sandbox_app()
    assert latency.MODEL.enabled is False
