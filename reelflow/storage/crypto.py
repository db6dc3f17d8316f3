"""Encryption at rest for platform tokens and lead PII (Fernet, with key rotation).

Keys come from `REELFLOW_TOKEN_ENCRYPTION_KEYS` (comma-separated; the first encrypts,
all decrypt). Outside production, a key is generated once into the data folder when none
is set, so dev and demo work without setup; production must set the variable.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from reelflow.errors import ConfigurationError, Permanent
from reelflow.settings import Settings, get_settings


def _keys(settings: Settings) -> list[str]:
    if settings.token_encryption_keys:
        return [k.strip() for k in settings.token_encryption_keys.split(",") if k.strip()]
    if settings.is_production:
        raise ConfigurationError("REELFLOW_TOKEN_ENCRYPTION_KEYS must be set in production")
    return [_dev_key(settings.resolved_data_dir / "secrets" / "token-encryption.key")]


def _dev_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
    return path.read_text().strip()


@functools.lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def cipher(settings: Settings | None = None) -> MultiFernet:
    return _cipher(tuple(_keys(settings or get_settings())))


def encrypt(plaintext: str, settings: Settings | None = None) -> str:
    return cipher(settings).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, settings: Settings | None = None) -> str:
    try:
        return cipher(settings).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise Permanent("stored secret cannot be decrypted with the configured keys") from None


def rotate(ciphertext: str, settings: Settings | None = None) -> str:
    """Re-encrypt with the current first key (after adding a new key in front)."""
    return cipher(settings).rotate(ciphertext.encode()).decode()
