"""Bearer-token authentication and role guards."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from reelflow.domain.identity import hash_token, looks_like_token
from reelflow.errors import Forbidden, Unauthorized
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.identity import IdentityRepository, Principal

TOUCH_EVERY = timedelta(minutes=1)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer rf_...` to a Principal; handlers with
    `opt={"exclude_from_auth": True}` (health, sign-up, webhooks) are skipped."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if not header:
            raise Unauthorized("missing bearer token")
        if scheme.lower() != "bearer" or not looks_like_token(credentials.strip()):
            raise Unauthorized("malformed bearer token")
        at = utcnow()
        async with session_scope() as session:
            repo = IdentityRepository(session)
            principal = await repo.principal_for_token(hash_token(credentials.strip()), at, touch_every=TOUCH_EVERY)
            if principal is None:
                raise Unauthorized("token is unknown, revoked or expired")
        return AuthenticationResult(user=principal, auth=principal.token_id)


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
