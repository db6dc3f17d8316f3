"""Bearer-token authentication and role guards."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from reelflow.domain.identity import hash_token, looks_like_token
from reelflow.errors import Forbidden, Unauthorized
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.identity import IdentityRepository, Principal
from reelflow.web.deps import release_request_session, request_session

TOUCH_EVERY = timedelta(minutes=1)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer rf_...` to a Principal; handlers with
    `opt={"exclude_from_auth": True}` (health, sign-up, webhooks) are skipped.

    The lookup runs in the request's session (reelflow/web/deps.py), which the handler's
    `db_session` then reuses: one connection checkout and one transaction per request. A
    handler that takes no session gets the connection back to the pool right after the lookup.
    Every token is looked up on every request (no cache): a revoked token fails at once."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A request that never reached its handler (a guard said no, a bad parameter)
            # leaves the lookup's session open: close it.
            await release_request_session(scope)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if not header:
            raise Unauthorized("missing bearer token")
        if scheme.lower() != "bearer" or not looks_like_token(credentials.strip()):
            raise Unauthorized("malformed bearer token")
        at = utcnow()
        scope = connection.scope
        session = request_session(scope)
        try:
            repo = IdentityRepository(session)
            found = await repo.lookup_token(hash_token(credentials.strip()), at)
            if found is None:
                raise Unauthorized("token is unknown, revoked or expired")
            if found.stale(at, TOUCH_EVERY):
                # At most once a minute per token: committed at once, so the row lock is
                # not held for the whole request (concurrent requests with the token wait on it).
                await repo.touch_token(found.principal.token_id, at, every=TOUCH_EVERY)
                await session.commit()
            if not _uses_session(scope["route_handler"]):
                await release_request_session(scope)
        except BaseException:
            await release_request_session(scope)
            raise
        return AuthenticationResult(user=found.principal, auth=found.principal.token_id)


@functools.lru_cache(maxsize=2048)
def _uses_session(handler: BaseRouteHandler) -> bool:
    """Whether the handler takes `db_session`, itself or through one of its dependencies."""
    dependencies = handler.resolve_dependencies()
    seen: set[str] = set()

    def takes(parameters: Iterable[str]) -> bool:
        for name in parameters:
            if name == "db_session":
                return True
            provider = dependencies.get(name)
            if provider is not None and name not in seen:
                seen.add(name)
                if takes(provider.parsed_fn_signature.parameters):
                    return True
        return False

    return takes(handler.parsed_fn_signature.parameters)


def requires_role(
    *roles: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]:
    """A guard that lets through only members with one of `roles`."""

    # A coroutine: Litestar runs a plain-function guard in a worker thread (a thread hand-off
    # on every request), an async one inline.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal):
            raise Unauthorized("missing bearer token")
        if user.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")

    return guard
