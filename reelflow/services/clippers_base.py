"""Clipper programmes: the shared pieces (role checks, the session scope type) that the
other `clippers_*` modules build on.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import MANAGERS
from reelflow.errors import Forbidden
from reelflow.storage.repositories.identity import Principal

SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def is_manager(principal: Principal) -> bool:
    return principal.role in MANAGERS


def require_manager(principal: Principal) -> None:
    if not is_manager(principal):
        raise Forbidden("only owners and admins manage clipper programmes")
