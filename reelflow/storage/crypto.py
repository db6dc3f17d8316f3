"""Encryption at rest for platform tokens and lead PII (Fernet, with key rotation).

Keys come from `REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS` (comma-separated; the first encrypts,
all decrypt). Outside production, a key is generated once into the data folder when none
is set, so dev and demo work without setup; production must set the variable.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from reelflow.errors import ConfigurationError, Permanent
from reelflow.settings import Settings, get_settings


def _keys(settings: Settings) -> list[str]:
    if settings.secrets.token_encryption_keys:
        return [k.strip() for k in settings.secrets.token_encryption_keys.split(",") if k.strip()]
    if settings.is_production:
        raise ConfigurationError("REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS must be set in production")
    return [dev_secret(settings, "token-encryption.key", Fernet.generate_key)]


def dev_secret(settings: Settings, name: str, make: Callable[[], bytes]) -> str:
    """A secret generated once into `<data dir>/secrets/NAME` (mode 600) for dev and test.

    Several processes of `reelflow dev` may ask at once: each writes a candidate to a
    temporary file and hard-links it into place, so the file appears complete or not at all;
    the first link wins and the others read it."""
    path = settings.resolved_data_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")  # mode 600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(make())
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
        finally:
            os.unlink(candidate)
    return path.read_text().strip()


@functools.lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


_last: tuple[Settings, MultiFernet] | None = None


def cipher(settings: Settings | None = None) -> MultiFernet:
    """The cipher for these settings; remembered for the last settings object asked, so hot
    paths (a lead webhook, a batch of leads) do not re-read the dev key file per value."""
    global _last
    settings = settings or get_settings()
    last = _last
    if last is not None and last[0] is settings:
        return last[1]
    made = _cipher(tuple(_keys(settings)))
    _last = (settings, made)
    return made


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


def key_id(settings: Settings | None = None) -> str:
    """A short, non-secret name of the current (first) key: stored beside each ciphertext,
    so rotation finds the rows still sealed with an older key."""
    import hashlib

    return hashlib.sha256(_keys(settings or get_settings())[0].encode()).hexdigest()[:12]
