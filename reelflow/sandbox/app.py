"""The sandbox app (the adapters issue fills it in with every platform's endpoints)."""

from __future__ import annotations

from litestar import Litestar, get


@get("/sandbox/health", sync_to_thread=False)
def health() -> dict[str, bool]:
    return {"ok": True}


def create_sandbox_app() -> Litestar:
    return Litestar(route_handlers=[health])


def run_sandbox(port: int, host: str = "127.0.0.1") -> None:
    import uvicorn

    uvicorn.run(create_sandbox_app(), host=host, port=port, log_level="warning")
