"""Signing per the Standard Webhooks specification, with the ``standardwebhooks`` package (not
hand-written HMAC): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (``v1,<base64>``;
space-separated when two secrets are valid during a rotation's grace period)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the specification's format (``whsec_`` + base64 of 32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(signing_secrets: list[str], msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt of ``body``, signed with every valid secret."""
    signatures = " ".join(Webhook(s).sign(msg_id, at, body) for s in signing_secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
