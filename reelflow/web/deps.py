"""Dependencies shared by routes: the database session and the caller.

One database session per request, opened lazily and kept in the request's scope: the token
lookup (reelflow/web/auth.py) and the handler's `db_session` share it, so an authenticated
request checks out one pooled connection (one pre-ping) and runs in one transaction instead
of two of each.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.errors import Unauthorized
from reelflow.storage.db import get_sessionmaker
from reelflow.storage.repositories.identity import Principal

_SESSION_KEY = "reelflow_db_session"


def request_session(scope: Scope) -> AsyncSession:
    """The request's session, created on first use (no connection is taken until it runs SQL)."""
    state = scope.setdefault("state", {})
    session: AsyncSession | None = state.get(_SESSION_KEY)
    if session is None:
        session = state[_SESSION_KEY] = get_sessionmaker()()
    return session


async def release_request_session(scope: Scope) -> None:
    """Close the request's session if one is open: an open transaction is rolled back and the
    connection goes back to the pool. Safe to call more than once."""
    state = scope.get("state")
    session = state.pop(_SESSION_KEY, None) if state is not None else None
    if session is not None:
        await session.close()


async def provide_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """The request's session; committed before the response is sent, rolled back on error."""
    session = request_session(request.scope)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await release_request_session(request.scope)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthorized("missing bearer token")
    return user
