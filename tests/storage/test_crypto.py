from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from reelflow.errors import ConfigurationError, Permanent
from reelflow.settings import Settings
from reelflow.storage import crypto


def test_round_trip_and_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Settings(secrets={"token_encryption_keys": old})
    secret = crypto.encrypt("act.secret-token", before)
    assert "secret-token" not in secret
    after = Settings(secrets={"token_encryption_keys": f"{new},{old}"})
    assert crypto.decrypt(secret, after) == "act.secret-token"  # old ciphertext still readable
    rotated = crypto.rotate(secret, after)
    assert crypto.decrypt(rotated, Settings(secrets={"token_encryption_keys": new})) == "act.secret-token"
    with pytest.raises(Permanent):
        crypto.decrypt(secret, Settings(secrets={"token_encryption_keys": new}))


def test_dev_key_is_generated_once_and_production_requires_keys(tmp_path):
    dev = Settings(data_dir=tmp_path, secrets={"token_encryption_keys": None}, env="dev")
    token = crypto.encrypt("x", dev)
    assert crypto.decrypt(token, Settings(data_dir=tmp_path, secrets={"token_encryption_keys": None}, env="dev")) == "x"
    assert (tmp_path / "secrets" / "token-encryption.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigurationError, match="REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS"):
        crypto.encrypt("x", dev.model_copy(update={"env": "production"}))


def test_dev_secret_is_the_same_for_concurrent_first_callers(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(data_dir=tmp_path, env="dev")
    counter = iter(range(1000))

    def make() -> bytes:
        return f"secret-{next(counter)}".encode()

    with ThreadPoolExecutor(8) as pool:
        values = set(pool.map(lambda _: crypto.dev_secret(settings, "race.key", make), range(32)))
    assert len(values) == 1
