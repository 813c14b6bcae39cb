"""Platform credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from CREDENTIALS_KEY. For a local `make run` without one, a key is generated once
into DATA_DIR/credentials.key (mode 0600) so restarts can still decrypt; production sets it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from settings import Settings


class CredentialsError(Exception):
    pass


def _key(settings: Settings) -> bytes:
    if settings.credentials_key:
        return settings.credentials_key.encode()
    path = Path(settings.data_dir) / "credentials.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def encrypt(settings: Settings, secrets: dict[str, Any]) -> bytes:
    return Fernet(_key(settings)).encrypt(orjson.dumps(secrets))


def decrypt(settings: Settings, token: bytes) -> dict[str, Any]:
    try:
        value: dict[str, Any] = orjson.loads(Fernet(_key(settings)).decrypt(token))
    except InvalidToken as err:
        raise CredentialsError("stored credentials cannot be decrypted with the configured CREDENTIALS_KEY") from err
    return value


# The prefix makes a leaked value recognisable (secret scanners, logs) as ours and as a webhook secret.
WEBHOOK_SECRET_PREFIX = "stx_wh_"


def new_webhook_secret(settings: Settings) -> tuple[str, bytes, str]:
    """A fresh per-connection webhook secret: (plaintext, encrypted, SHA-256 hex)."""
    plaintext = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
    return plaintext, Fernet(_key(settings)).encrypt(plaintext.encode()), webhook_secret_hash(plaintext)


def webhook_secret_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def decrypt_webhook_secret(settings: Settings, token: bytes) -> str:
    try:
        return Fernet(_key(settings)).decrypt(token).decode()
    except InvalidToken as err:
        raise CredentialsError("the webhook secret cannot be decrypted with the configured CREDENTIALS_KEY") from err


def encrypt_text(settings: Settings, plaintext: str) -> bytes:
    """A secret the engine must use again (an event endpoint's signing secret), encrypted at rest."""
    return Fernet(_key(settings)).encrypt(plaintext.encode())


def decrypt_text(settings: Settings, token: bytes) -> str:
    try:
        return Fernet(_key(settings)).decrypt(token).decode()
    except InvalidToken as err:
        raise CredentialsError("a stored secret cannot be decrypted with the configured CREDENTIALS_KEY") from err
