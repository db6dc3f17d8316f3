"""Dependencies shared by routes: the database session and the caller."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.errors import Unauthorized
from reelflow.storage.db import get_sessionmaker
from reelflow.storage.repositories.identity import Principal


async def provide_session() -> AsyncGenerator[AsyncSession, None]:
    """One session per request; committed before the response is sent, rolled back on error."""
    async with get_sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthorized("missing bearer token")
    return user
