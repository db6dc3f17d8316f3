"""Encrypted secrets at rest, reusable by every area that stores platform tokens.

    vault = TokenVault()
    row.access_token_enc = vault.seal(tokens.access_token)
    row.key_id = vault.key_id                   # which key sealed it (rotation)
    plaintext = vault.open(row.access_token_enc)

Tables that hold sealed columns are listed in `ENCRYPTED_TABLES` (one `EncryptedTable`
each, with the columns and the column naming the sealing key). `rotate_all` re-encrypts
every row not sealed with the current key; `reelflow keys rotate` runs it. To rotate: put
a new Fernet key FIRST in `REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS` (keep the old ones after it),
deploy, run `reelflow keys rotate`, then drop the old keys.

Another area adds its table with `register_encrypted_table(EncryptedTable(...))` at
import of its models module, or by appending to the list below.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.settings import Settings
from reelflow.storage import crypto


@dataclass(frozen=True)
class EncryptedTable:
    table: str
    columns: tuple[str, ...]
    key_column: str = "key_id"
    id_column: str = "id"


ENCRYPTED_TABLES: list[EncryptedTable] = [
    EncryptedTable("connected_accounts", ("access_token_enc", "refresh_token_enc")),
    EncryptedTable("oauth_states", ("code_verifier_enc",)),
    # <other areas' sealed tables (ads: TikTok Business tokens)>
]


def register_encrypted_table(table: EncryptedTable) -> None:
    if all(t.table != table.table for t in ENCRYPTED_TABLES):
        ENCRYPTED_TABLES.append(table)


class TokenVault:
    """Seal and open secrets with the configured keys (MultiFernet: first key seals)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    @property
    def key_id(self) -> str:
        return crypto.key_id(self.settings)

    def seal(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else crypto.encrypt(plaintext, self.settings)

    def open(self, ciphertext: str | None) -> str | None:
        return None if ciphertext is None else crypto.decrypt(ciphertext, self.settings)


async def rotate_table(session: AsyncSession, table: EncryptedTable, *, batch: int = 500) -> int:
    """Re-encrypt every row of `table` not sealed with the current key; returns rows changed.

    Rows are locked (`FOR UPDATE SKIP LOCKED`) batch by batch and committed per batch, so a
    concurrent token refresh waits for the batch and then writes its own sealed values."""
    current = crypto.key_id()
    cols = ", ".join(table.columns)
    changed = 0
    while True:
        rows = (
            await session.execute(
                text(
                    f"SELECT {table.id_column}, {cols} FROM {table.table} "
                    f"WHERE {table.key_column} IS DISTINCT FROM :current "
                    f"AND ({' OR '.join(f'{c} IS NOT NULL' for c in table.columns)}) "
                    f"LIMIT :batch FOR UPDATE SKIP LOCKED"
                ),
                {"current": current, "batch": batch},
            )
        ).all()
        if not rows:
            await session.commit()
            return changed
        for row in rows:
            values = {
                c: (crypto.rotate(v) if v is not None else None) for c, v in zip(table.columns, row[1:], strict=True)
            }
            sets = ", ".join(f"{c} = :{c}" for c in table.columns)
            await session.execute(
                text(f"UPDATE {table.table} SET {sets}, {table.key_column} = :current WHERE {table.id_column} = :id"),
                {**values, "current": current, "id": row[0]},
            )
            changed += 1
        await session.commit()


async def rotate_all(session: AsyncSession, *, batch: int = 500) -> dict[str, int]:
    """Rotate every registered table; returns table → rows re-encrypted."""
    return {t.table: await rotate_table(session, t, batch=batch) for t in ENCRYPTED_TABLES}
