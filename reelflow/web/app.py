"""The Litestar application factory: `uvicorn --factory reelflow.web.app:create_app`."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from typing import Any

from litestar import Litestar, Request, Router
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from sqlalchemy.exc import DBAPIError

from reelflow import __version__, composition
from reelflow.adapters.mail import SmtpMailer
from reelflow.errors import ConfigurationError
from reelflow.health import PooledReadiness
from reelflow.logs import configure_logging, get_logger
from reelflow.settings import ProxySettings, Settings, get_settings
from reelflow.storage.db import dispose_engine, warm_autocommit_pool
from reelflow.web.auth import BearerTokenMiddleware
from reelflow.web.decoding import StrictRequest
from reelflow.web.deps import provide_session
from reelflow.web.errors import EXCEPTION_HANDLERS
from reelflow.web.middleware import (
    allow_every_method,
    before_request,
    client_address,
    idempotency_send,
    request_id_middleware,
    stamp_response,
)
from reelflow.web.openapi import amend_openapi, extra_media, platform_operations, public_operations
from reelflow.web.routes import ads as ads_routes
from reelflow.web.routes import audit, health, identity, jobs
from reelflow.web.routes import autopilot as autopilot_routes
from reelflow.web.routes import clippers as clippers_routes
from reelflow.web.routes import clipping as clipping_routes
from reelflow.web.routes import discovery as discovery_routes
from reelflow.web.routes import leads as leads_routes
from reelflow.web.routes import monitoring as monitoring_routes
from reelflow.web.routes import publishing as publishing_routes

API_PREFIX = "/api/v1"
DOCS_ASSETS = "/schema/assets"

# Route modules under /api/v1; each area adds its module here.
API_ROUTE_MODULES: list[Any] = [
    identity,
    monitoring_routes,
    clipping_routes,
    discovery_routes,
    jobs,
    audit,
    ads_routes,
    autopilot_routes,
    leads_routes,
    publishing_routes,
    clippers_routes,
    # <area route modules>
]


def _rate_limit(group: str, per_minute: int, proxy: ProxySettings) -> RateLimitConfig:
    """A limit for handlers tagged `opt={"rate_limit_group": group}`: per bearer token when
    the request carries one (authenticated callers share nothing with their neighbours),
    else per client address (forwarded headers believed only from configured proxies)."""

    async def in_group(request: Request[Any, Any, Any]) -> bool:
        return bool(request.route_handler.opt.get("rate_limit_group") == group)

    def identifier(request: Request[Any, Any, Any]) -> str:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return f"{group}:token:{hashlib.sha256(credentials.strip().encode()).hexdigest()[:32]}"
        return f"{group}:addr:{client_address(request.scope, proxy)}"

    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        store="rate_limit",
        check_throttle_handler=in_group,
        identifier_for_request=identifier,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the application from settings, and nothing else: no server is started here.
    The embedded Postgres/Redis (dev, demo) are started by the CLI (`reelflow web`, `reelflow
    dev`) before it serves this app; uvicorn in the Procfile gets the add-ons' URLs."""
    settings = settings or get_settings()
    configure_logging(settings.log.level, settings.log.as_json, cache=settings.log.cache_loggers)

    import redis.asyncio as aioredis

    if not settings.redis.url:
        raise ConfigurationError(
            "REDIS_URL is not set: serve the app with `reelflow web` or `reelflow dev` (they start the embedded "
            "services), or set REDIS_URL and DATABASE_URL"
        )
    redis_client = aioredis.Redis.from_url(settings.redis.url)
    stores = StoreRegistry(
        default_factory=lambda name: RedisStore(redis_client, namespace=f"reelflow:{name}"),
    )

    api = Router(
        path=API_PREFIX,
        route_handlers=[handler for module in API_ROUTE_MODULES for handler in module.route_handlers],
    )

    async def warm_pools() -> None:
        # Webhook receipt's autocommit pool, opened before traffic (a server, not the tests'
        # in-process transport, runs this): the first requests find their connections ready.
        # Best effort and time-boxed: a web process still starts while Postgres is down
        # (/readyz says so), and the pool then opens on first use.
        try:
            await asyncio.wait_for(warm_autocommit_pool(4), timeout=5.0)
        except (TimeoutError, OSError, DBAPIError) as exc:
            get_logger(__name__).warning("autocommit_pool_not_warmed", error=type(exc).__name__)

    async def close_resources() -> None:
        await dispose_engine()
        await redis_client.aclose()

    app = Litestar(
        route_handlers=[*health.route_handlers, api, _docs_assets()],
        # The composition point for the web process: adapters handed to services.
        dependencies={
            "db_session": Provide(provide_session),
            "blobs": Provide(composition.blob_store, sync_to_thread=False),
            "ads_factory": Provide(composition.ads_factory, sync_to_thread=False),
            # Platform clients for publishing (sandbox or real hosts, by settings).
            "platforms": Provide(composition.publishing_platforms, sync_to_thread=False),
        },
        middleware=[
            request_id_middleware,
            _rate_limit("signup", settings.web.signup_rate_limit_per_minute, settings.proxy).middleware,
            _rate_limit("tokens", settings.web.token_rate_limit_per_minute, settings.proxy).middleware,
            _rate_limit("login", settings.web.token_rate_limit_per_minute, settings.proxy).middleware,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=StrictRequest,
        before_request=before_request,
        before_send=[stamp_response, idempotency_send, allow_every_method],
        state=State(
            {
                "redis": redis_client,
                "mailer": SmtpMailer(settings.mail),
                "settings": settings,
                "readiness": PooledReadiness(
                    redis_client,
                    probe_timeout_s=settings.readiness.probe_timeout_s,
                    cache_s=settings.readiness.cache_s,
                ),
                **_adapters(settings),
            }
        ),
        on_app_init=[_add_auth],
        on_startup=[warm_pools],
        on_shutdown=[close_resources],
        stores=stores,
        request_max_body_size=settings.web.max_body_bytes,
        cors_config=CORSConfig(allow_origins=["*"], allow_headers=["Authorization", "Content-Type", "Idempotency-Key"]),
        openapi_config=OpenAPIConfig(
            title="Reelflow API",
            version=__version__,
            description="Monitoring, discovery, clipping, publishing, tracking and ads for short video.",
            path="/schema",
            # Swagger UI from the installed package (swagger-ui-bundle-v2), not a CDN: the
            # docs page works offline.
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                    favicon="<link rel='icon' href='data:,'>",
                )
            ],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="rf_...")}
            ),
            security=[{"BearerToken": []}],
        ),
        debug=False,
    )
    # The served document, amended once: every problem each operation can answer, and the
    # body rules the strict decoder enforces (reelflow/web/openapi.py).
    amend_openapi(
        app.plugins.get(OpenAPIPlugin).provide_openapi_schema(),
        public=public_operations(app),
        media=extra_media(app),
        platform=platform_operations(app),
    )
    _freeze_once()
    return app


_frozen = False


def _freeze_once() -> None:
    """Move everything built so far (imports, routes, the OpenAPI document, models: it lives as
    long as the process) out of the garbage collector's sight, once per process, so a full
    collection scans only what requests allocate. Measured in a uvicorn worker under the lead
    webhook benchmark: full collections of 0.36-0.59 s became ~20 ms, the worst stalls behind
    the p99. Once only: tests build many apps in one process and must not pin them all."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def _docs_assets() -> Router:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return create_static_files_router(
        path=DOCS_ASSETS,
        directories=[str(swagger_ui_path)],
        opt={"exclude_from_auth": True},
        include_in_schema=False,
        cache_control=None,
    )


def _adapters(settings: Settings) -> dict[str, Any]:
    """The adapters routes need (on `request.app.state`), from the composition point."""
    return {"image_fetcher": composition.image_fetcher(settings)}


def _add_auth(app_config: Any) -> Any:
    from litestar.middleware import DefineMiddleware

    # Authentication runs inside the request-id middleware so failures are logged with an id.
    app_config.middleware.append(DefineMiddleware(BearerTokenMiddleware, exclude=["^/schema", "^/healthz", "^/readyz"]))
    return app_config
