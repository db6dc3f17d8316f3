"""The embedded servers are real, shareable and keep their data across restarts."""

from __future__ import annotations

import asyncio

import asyncpg
import redis
from sqlalchemy.engine import make_url

from reelflow.storage.embedded import start_postgres, start_redis


def _pg_query(url: str, sql: str) -> object:
    parsed = make_url(url)

    async def run() -> object:
        conn = await asyncpg.connect(user=parsed.username, host=parsed.query["host"], database=parsed.database)
        try:
            if ";" in sql:
                return await conn.execute(sql)
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_postgres_keeps_data_across_restart(tmp_path):
    pg, url = start_postgres(tmp_path / "pg")
    _pg_query(url, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
    pg.cleanup()  # the last handle stops the server
    pg_again, url_again = start_postgres(tmp_path / "pg")
    try:
        assert _pg_query(url_again, "SELECT v FROM kept") == 42
    finally:
        pg_again.cleanup()


def test_redis_is_shared_and_keeps_data_across_restart(tmp_path):
    proc, url = start_redis(tmp_path / "redis")
    assert proc is not None
    same, same_url = start_redis(tmp_path / "redis")  # a second process of `reelflow dev` reuses it
    assert same is None and same_url == url
    client = redis.Redis.from_url(url)
    client.set("kept", "yes")
    client.shutdown(save=True)
    proc.wait(10)
    proc_again, url_again = start_redis(tmp_path / "redis")
    try:
        assert redis.Redis.from_url(url_again).get("kept") == b"yes"
    finally:
        assert proc_again is not None
        proc_again.terminate()
        proc_again.wait(10)
